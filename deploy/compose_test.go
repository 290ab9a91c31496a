package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"sigs.k8s.io/yaml"

	"github.com/gridhub/gridhub/internal/envvars"
)

// names lists a container's or service's variables, sorted.
func names[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkEnv fails for a variable the binary does not read (a typo, or one
// left from an older version), for one only dev or the tests read, and, when
// required, for a variable serve cannot start without that is missing.
func checkEnv(t *testing.T, where string, set []string, required bool) {
	t.Helper()
	for _, name := range set {
		v, ok := envvars.Lookup(name)
		switch {
		case !ok:
			t.Errorf("%s sets %s, which the binary does not read (internal/envvars lists what it reads)", where, name)
		case v.Scope != envvars.Serve:
			t.Errorf("%s sets %s, which only %s reads", where, name, v.Scope)
		}
	}
	if required {
		for _, name := range envvars.Required() {
			if !slices.Contains(set, name) {
				t.Errorf("%s does not set %s, without which serve does not start", where, name)
			}
		}
	}
}

// loadCompose loads compose/compose.yaml with the Compose specification's own
// loader (schema-checked; env_file and interpolation resolved), with the
// secrets .env would give.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose/compose.yaml"},
		cli.WithWorkingDirectory("compose"),
		cli.WithEnv([]string{
			"POSTGRES_PASSWORD=owner-pw", "GRIDHUB_HUB_PASSWORD=hub-pw", "GRAFANA_ADMIN_PASSWORD=x",
			"GRIDHUB_SECRET_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			"GRIDHUB_JWKS_URL=https://sso.city.example/jwks.json",
		}),
		cli.WithName("gridhub"),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// TestComposeMatchesTheBinary: the compose stack runs the commands the
// binary has, sets only variables it reads and every one serve needs, points
// every department of the mounted configuration somewhere, migrates as the
// owner and serves as the hub's role, and Prometheus scrapes every hub.
func TestComposeMatchesTheBinary(t *testing.T) {
	p := loadCompose(t)
	for _, want := range []string{"postgres", "redis", "migrate", "hub-1", "hub-2", "otel-collector", "prometheus", "grafana"} {
		if _, err := p.GetService(want); err != nil {
			t.Errorf("compose has no service %s", want)
		}
	}
	var hubs []types.ServiceConfig
	for _, s := range p.Services {
		if s.Image == "gridhub:latest" && slices.Equal([]string(s.Command), []string{"serve"}) {
			hubs = append(hubs, s)
		}
	}
	if len(hubs) < 2 {
		t.Fatalf("compose runs %d hub replicas, want two", len(hubs))
	}
	refs := configEnvRefs(t, os.DirFS("kubernetes/base/config"))
	scraped := prometheusTargets(t)
	for _, s := range hubs {
		set := names(s.Environment)
		checkEnv(t, "compose service "+s.Name, set, true)
		var dept []string
		for _, n := range set {
			if strings.HasPrefix(n, "GRIDHUB_DEPT_") {
				dept = append(dept, n)
			}
		}
		if !slices.Equal(dept, refs) {
			t.Errorf("%s sets department variables %v; the mapping files read %v", s.Name, dept, refs)
		}
		confDir := *s.Environment["GRIDHUB_CONFIG"]
		mounted := false
		for _, v := range s.Volumes {
			mounted = mounted || (v.Target == confDir && strings.HasSuffix(filepath.ToSlash(v.Source), "deploy/kubernetes/base/config"))
		}
		if !mounted {
			t.Errorf("%s: GRIDHUB_CONFIG %s is not the mounted configuration directory", s.Name, confDir)
		}
		if addr := *s.Environment["GRIDHUB_ADDR"]; !slices.Contains(scraped, s.Name+addr) {
			t.Errorf("Prometheus does not scrape %s%s (it scrapes %v)", s.Name, addr, scraped)
		}
		if !strings.HasPrefix(*s.Environment["GRIDHUB_DATABASE_URL"], "postgres://gridhub_hub:") {
			t.Errorf("%s connects as %s, want the hub's role gridhub_hub", s.Name, *s.Environment["GRIDHUB_DATABASE_URL"])
		}
	}
	mig, err := p.GetService("migrate")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal([]string(mig.Command), []string{"migrate"}) {
		t.Errorf("migrate service runs %v", mig.Command)
	}
	checkEnv(t, "compose service migrate", names(mig.Environment), true)
	if !strings.HasPrefix(*mig.Environment["GRIDHUB_DATABASE_URL"], "postgres://gridhub:") {
		t.Errorf("migrations run as %s, want the owner gridhub", *mig.Environment["GRIDHUB_DATABASE_URL"])
	}
}

// prometheusTargets are the host:port targets compose/prometheus.yml scrapes.
func prometheusTargets(t *testing.T) []string {
	t.Helper()
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	b, err := os.ReadFile("compose/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			out = append(out, st.Targets...)
		}
	}
	return out
}

// metricName is a series name in a PromQL expression.
var metricName = regexp.MustCompile(`\b((?:gridhub|go|process)_[a-z0-9_]+)\b`)

// registeredInCode is how the hub's own metrics are declared: each name of a
// prometheus.*Opts in the non-test Go files.
var registeredInCode = regexp.MustCompile(`Name:\s+"(gridhub_[a-z0-9_]+)"`)

// TestDashboardShowsTheHubsMetrics: every series the Grafana dashboard asks
// for is one the hub exports, and every metric the hub declares has a panel.
func TestDashboardShowsTheHubsMetrics(t *testing.T) {
	declared := map[string]bool{}
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		for _, m := range registeredInCode.FindAllSubmatch(b, -1) {
			declared[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(declared) < 3 {
		t.Fatalf("found only %v declared in the code", declared)
	}
	// The runtime's and the process's series, as the hub registers them.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	runtime := map[string]bool{}
	for _, f := range families {
		runtime[f.GetName()] = true
	}

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile("compose/grafana/dashboards/gridhub.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q asks for nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
				switch {
				case declared[base]:
					shown[base] = true
				case runtime[m] || runtime[base]:
				default:
					t.Errorf("panel %q asks for %s, which the hub does not export", p.Title, m)
				}
			}
		}
	}
	for name := range declared {
		if !shown[name] {
			t.Errorf("the hub exports %s, and no panel of the dashboard shows it", name)
		}
	}
}

// imageUID is the user the image runs as (the Dockerfile's USER); the
// manifests run the pods as the same.
const imageUID = 65532

// TestDockerfile: a multi-stage build whose last stage is an empty base with
// the static binary alone, run as a non-root user, with no shell to run.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions per stage
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "&&") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a run stage", len(stages))
	}
	build, run := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	for _, want := range []string{"CGO_ENABLED=0", "go build", "./cmd/gridhub"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage has no %q", want)
		}
	}
	if run[0] != "FROM scratch" {
		t.Errorf("the run stage is %q, want FROM scratch (nothing but the binary)", run[0])
	}
	var user, entry string
	for _, ins := range run[1:] {
		switch verb, rest, _ := strings.Cut(ins, " "); verb {
		case "RUN", "SHELL":
			t.Errorf("the run stage has %q: there is no shell to run it", ins)
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entry = rest
		}
	}
	if user != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532 (imageUID)", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) != 1 || !strings.HasSuffix(argv[0], "/gridhub") {
		t.Errorf("ENTRYPOINT %s: want the binary alone, in exec form", entry)
	}
}
