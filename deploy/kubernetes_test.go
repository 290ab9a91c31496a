package deploy

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
)

// The kustomizations deploy/ ships; each renders on its own.
var kustomizations = []string{"kubernetes/base", "kubernetes/overlays/production"}

// newObject is the typed Go value each kind of object decodes into; a kind
// not listed here is refused, so every object rendered is checked.
func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "batch/v1 Job":
		return &batchv1.Job{}, true
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, true
	}
	return nil, false
}

// rendered is one kustomization's output, decoded.
type rendered struct {
	deployment     *appsv1.Deployment
	job            *batchv1.Job
	service        *corev1.Service
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	pdb            *policyv1.PodDisruptionBudget
	netpol         *networkingv1.NetworkPolicy
	serviceMonitor *monitoringv1.ServiceMonitor
	serviceAccount *corev1.ServiceAccount
	configMaps     map[string]*corev1.ConfigMap // by name as rendered (hash suffix included)
}

// render runs kustomize in process on the directory dir (on disk, no
// network) and decodes every object strictly: an unknown or misspelt field,
// a duplicate key or a kind without a Go type is an error.
func render(dir string) (*rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	r := &rendered{configMaps: map[string]*corev1.ConfigMap{}}
	for _, res := range m.Resources() {
		raw, err := res.AsYAML()
		if err != nil {
			return nil, err
		}
		obj, ok := newObject(res.GetApiVersion(), res.GetKind())
		if !ok {
			return nil, fmt.Errorf("%s: %s %s %s has no Go type to check it against", dir, res.GetApiVersion(), res.GetKind(), res.GetName())
		}
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", dir, res.GetKind(), res.GetName(), err)
		}
		var dup bool
		switch o := obj.(type) {
		case *appsv1.Deployment:
			dup, r.deployment = r.deployment != nil, o
		case *batchv1.Job:
			dup, r.job = r.job != nil, o
		case *corev1.Service:
			dup, r.service = r.service != nil, o
		case *autoscalingv2.HorizontalPodAutoscaler:
			dup, r.hpa = r.hpa != nil, o
		case *policyv1.PodDisruptionBudget:
			dup, r.pdb = r.pdb != nil, o
		case *networkingv1.NetworkPolicy:
			dup, r.netpol = r.netpol != nil, o
		case *monitoringv1.ServiceMonitor:
			dup, r.serviceMonitor = r.serviceMonitor != nil, o
		case *corev1.ServiceAccount:
			dup, r.serviceAccount = r.serviceAccount != nil, o
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		}
		if dup {
			return nil, fmt.Errorf("%s: more than one %s", dir, res.GetKind())
		}
	}
	for what, missing := range map[string]bool{
		"Deployment": r.deployment == nil, "Job": r.job == nil, "Service": r.service == nil,
		"HorizontalPodAutoscaler": r.hpa == nil, "PodDisruptionBudget": r.pdb == nil,
		"NetworkPolicy": r.netpol == nil, "ServiceMonitor": r.serviceMonitor == nil, "ServiceAccount": r.serviceAccount == nil,
	} {
		if missing {
			return nil, fmt.Errorf("%s renders no %s", dir, what)
		}
	}
	return r, nil
}

func mustRender(t *testing.T, dir string) *rendered {
	t.Helper()
	r, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKustomizationsDecodeStrictly renders the base and the production
// overlay and decodes every object into the Kubernetes API types.
func TestKustomizationsDecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) { mustRender(t, dir) })
	}
}

// TestAMisspeltFieldFails: an overlay whose patch misspells a field renders
// (kustomize does not know the schema), and the strict decoding refuses it.
func TestAMisspeltFieldFails(t *testing.T) {
	base, err := filepath.Abs("kubernetes/base")
	if err != nil {
		t.Fatal(err)
	}
	for field, patch := range map[string]string{
		"readinesProbe": `
      containers:
        - name: gridhub
          readinesProbe:
            httpGet: {path: /readyz, port: http}`,
		"runAsNonRot": `
      securityContext:
        runAsNonRot: true`,
	} {
		dir := t.TempDir()
		rel, err := filepath.Rel(dir, base)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "kustomization.yaml"), "resources:\n  - "+filepath.ToSlash(rel)+"\npatches:\n  - path: patch.yaml\n")
		write(t, filepath.Join(dir, "patch.yaml"), `apiVersion: apps/v1
kind: Deployment
metadata:
  name: gridhub
spec:
  template:
    spec:`+patch+"\n")
		_, err = render(dir)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("a patch with %q: render error %v, want one naming the field", field, err)
		}
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// container finds a container by name.
func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// env is a container's variables: name -> the variable (for its source).
func env(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

// TestDeploymentRunsTheHub checks the rendered objects against the binary:
// the commands, the probes on the health paths the server serves, the
// listen port, the variables it reads (and those it must have, taken from
// Secrets), the configuration directory mounted whole and valid, and the
// selectors that tie the objects together.
func TestDeploymentRunsTheHub(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			r := mustRender(t, dir)
			pod := r.deployment.Spec.Template
			hub := container(t, pod.Spec.Containers, "gridhub")
			wait := container(t, pod.Spec.InitContainers, "wait-for-migrations")
			migrate := container(t, r.job.Spec.Template.Spec.Containers, "migrate")

			// The commands the binary has.
			if !slices.Equal(hub.Args, []string{"serve"}) {
				t.Errorf("hub args %v, want [serve]", hub.Args)
			}
			if len(wait.Args) != 3 || wait.Args[0] != "migrate" || wait.Args[1] != "--wait" {
				t.Errorf("init container args %v, want migrate --wait D", wait.Args)
			}
			if !slices.Equal(migrate.Args, []string{"migrate"}) {
				t.Errorf("migration Job args %v, want [migrate]", migrate.Args)
			}
			for _, c := range []corev1.Container{hub, wait, migrate} {
				if c.Image != hub.Image || c.Image == "" {
					t.Errorf("container %s runs image %q, the hub %q", c.Name, c.Image, hub.Image)
				}
			}

			// Probes on the paths the server answers without a token.
			probes := map[string]*corev1.Probe{"liveness": hub.LivenessProbe, "readiness": hub.ReadinessProbe, "startup": hub.StartupProbe}
			wantPath := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}
			for kind, p := range probes {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("%s probe: none over HTTP", kind)
					continue
				}
				if p.HTTPGet.Path != wantPath[kind] || !slices.Contains(auth.HealthPaths, p.HTTPGet.Path) {
					t.Errorf("%s probe on %s, want %s (one of the server's %v)", kind, p.HTTPGet.Path, wantPath[kind], auth.HealthPaths)
				}
				if p.HTTPGet.Port.String() != "http" {
					t.Errorf("%s probe on port %s, want the named port http", kind, p.HTTPGet.Port.String())
				}
			}
			if len(hub.Ports) != 1 || hub.Ports[0].Name != "http" {
				t.Fatalf("hub ports %v, want one named http", hub.Ports)
			}
			hubEnv := env(hub)
			if addr := hubEnv["GRIDHUB_ADDR"].Value; addr != fmt.Sprintf(":%d", hub.Ports[0].ContainerPort) {
				t.Errorf("GRIDHUB_ADDR %q, container port %d", addr, hub.Ports[0].ContainerPort)
			}
			if hub.Resources.Requests.Cpu().IsZero() || hub.Resources.Requests.Memory().IsZero() || hub.Resources.Limits.Memory().IsZero() {
				t.Errorf("hub resources %v: want CPU and memory requests and a memory limit", hub.Resources)
			}

			// The variables: every one the binary reads, the required ones
			// present, credentials from Secrets.
			checkEnv(t, "Deployment container gridhub", names(hubEnv), true)
			for name, c := range map[string]corev1.Container{"init container": wait, "migration Job": migrate} {
				checkEnv(t, name, names(env(c)), true)
			}
			for _, c := range []corev1.Container{hub, wait, migrate} {
				for _, name := range []string{"GRIDHUB_DATABASE_URL", "GRIDHUB_SECRET_KEY", "GRIDHUB_REDIS_URL"} {
					e, ok := env(c)[name]
					if ok && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
						t.Errorf("%s: %s is not taken from a Secret", c.Name, name)
					}
				}
			}
			// The migrations run as the owner, the hub as its own role.
			owner := env(migrate)["GRIDHUB_DATABASE_URL"].ValueFrom.SecretKeyRef
			app := hubEnv["GRIDHUB_DATABASE_URL"].ValueFrom.SecretKeyRef
			if owner.Name == app.Name && owner.Key == app.Key {
				t.Errorf("the migration Job connects with the hub's credentials (%s/%s), not the owner's", app.Name, app.Key)
			}
			if appWait := env(wait)["GRIDHUB_DATABASE_URL"].ValueFrom.SecretKeyRef; *appWait != *app {
				t.Errorf("the init container waits with %v, the hub connects with %v", appWait, app)
			}

			// The configuration directory: mounted whole at GRIDHUB_CONFIG,
			// it loads, and every department it names is pointed somewhere.
			confDir := mountedConfig(t, r, hub, hubEnv["GRIDHUB_CONFIG"].Value)
			conf, err := config.Load(confDir)
			if err != nil {
				t.Fatalf("the mounted configuration directory does not load: %v", err)
			}
			if len(conf.Departments) == 0 {
				t.Fatal("the mounted configuration has no departments")
			}
			refs := configEnvRefs(t, os.DirFS(confDir))
			var setDept []string
			for name := range hubEnv {
				if strings.HasPrefix(name, "GRIDHUB_DEPT_") {
					setDept = append(setDept, name)
				}
			}
			slices.Sort(setDept)
			if !slices.Equal(setDept, refs) {
				t.Errorf("the hub sets department variables %v; the mounted mapping files read %v", setDept, refs)
			}

			// Security: non-root as the image's user, nothing writable but
			// the volumes, no service account token.
			sc := pod.Spec.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != imageUID {
				t.Errorf("pod security context %+v: want runAsNonRoot and runAsUser %d (the image's USER)", sc, imageUID)
			}
			for _, c := range []corev1.Container{hub, wait, migrate} {
				csc := c.SecurityContext
				if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
					csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
					t.Errorf("%s: want a read-only root file system and no privilege escalation", c.Name)
				}
			}
			if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
				t.Error("the hub's pods mount a service account token they do not use")
			}

			// Selectors: the Service, PDB and ServiceMonitor pick the hub's
			// pods and not the migration Job's; the NetworkPolicy both.
			hubPods := labels.Set(pod.Labels)
			jobPods := labels.Set(r.job.Spec.Template.Labels)
			sel := map[string]labels.Selector{
				"Service":             labels.SelectorFromSet(r.service.Spec.Selector),
				"PodDisruptionBudget": selector(t, r.pdb.Spec.Selector.MatchLabels),
				"Deployment":          selector(t, r.deployment.Spec.Selector.MatchLabels),
			}
			for what, s := range sel {
				if !s.Matches(hubPods) || s.Matches(jobPods) {
					t.Errorf("%s selector %s: want the hub's pods (%v) and not the Job's (%v)", what, s, hubPods, jobPods)
				}
			}
			if np := selector(t, r.netpol.Spec.PodSelector.MatchLabels); !np.Matches(hubPods) || !np.Matches(jobPods) {
				t.Errorf("NetworkPolicy selects %s: want the hub's and the Job's pods", np)
			}
			if !slices.Contains(r.netpol.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(r.netpol.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				t.Errorf("NetworkPolicy types %v, want Ingress and Egress", r.netpol.Spec.PolicyTypes)
			}
			ingressOK := false
			for _, rule := range r.netpol.Spec.Ingress {
				for _, p := range rule.Ports {
					ingressOK = ingressOK || (p.Port != nil && p.Port.IntValue() == int(hub.Ports[0].ContainerPort))
				}
			}
			if !ingressOK {
				t.Errorf("NetworkPolicy lets no request reach port %d", hub.Ports[0].ContainerPort)
			}
			sm := r.serviceMonitor.Spec
			if s := selector(t, sm.Selector.MatchLabels); !s.Matches(labels.Set(r.service.Labels)) {
				t.Errorf("ServiceMonitor selects %s, the Service is labelled %v", s, r.service.Labels)
			}
			if len(sm.Endpoints) != 1 || sm.Endpoints[0].Port != r.service.Spec.Ports[0].Name || sm.Endpoints[0].Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoints %+v: want the Service's port %q, path /metrics", sm.Endpoints, r.service.Spec.Ports[0].Name)
			}
			if r.service.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("Service targets port %s, want the named port http", r.service.Spec.Ports[0].TargetPort.String())
			}
			if ref := r.hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != r.deployment.Name {
				t.Errorf("HPA scales %s/%s, want Deployment/%s", ref.Kind, ref.Name, r.deployment.Name)
			}
			if r.hpa.Spec.MinReplicas == nil || *r.hpa.Spec.MinReplicas < 2 {
				t.Error("HPA allows fewer than two replicas")
			}
			if r.pdb.Spec.MinAvailable == nil && r.pdb.Spec.MaxUnavailable == nil {
				t.Error("PodDisruptionBudget bounds nothing")
			}
			for _, name := range []string{r.deployment.Spec.Template.Spec.ServiceAccountName, r.job.Spec.Template.Spec.ServiceAccountName} {
				if name != r.serviceAccount.Name {
					t.Errorf("pods run as service account %q, the kustomization makes %q", name, r.serviceAccount.Name)
				}
			}
		})
	}
}

// TestBaseConfigIsTheBuiltinOne: kubernetes/base/config is the built-in
// configuration directory, file for file (`make deploy-config` rewrites it).
func TestBaseConfigIsTheBuiltinOne(t *testing.T) {
	want := map[string]string{}
	err := fs.WalkDir(builtin.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(builtin.FS, p)
		want[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	disk := os.DirFS("kubernetes/base/config")
	err = fs.WalkDir(disk, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(disk, p)
		got[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the built-in configuration has no files")
	}
	for p := range want {
		if got[p] != want[p] {
			t.Errorf("kubernetes/base/config/%s differs from the built-in one: run make deploy-config", p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("kubernetes/base/config/%s is not in the built-in configuration: run make deploy-config", p)
		}
	}
}

// mountedConfig writes the ConfigMap that the hub mounts at GRIDHUB_CONFIG to
// a directory as the kubelet would (each item's key at its path), checking
// that every key of the ConfigMap is mounted, and returns the directory.
func mountedConfig(t *testing.T, r *rendered, hub corev1.Container, confPath string) string {
	t.Helper()
	if confPath == "" {
		t.Fatal("GRIDHUB_CONFIG is not set")
	}
	var volName string
	for _, m := range hub.VolumeMounts {
		if m.MountPath == confPath {
			volName = m.Name
		}
	}
	var src *corev1.ConfigMapVolumeSource
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Name == volName && v.ConfigMap != nil {
			src = v.ConfigMap
		}
	}
	if src == nil {
		t.Fatalf("GRIDHUB_CONFIG %s is not a mounted ConfigMap", confPath)
	}
	cm, ok := r.configMaps[src.Name]
	if !ok {
		t.Fatalf("the hub mounts ConfigMap %s, which is not rendered", src.Name)
	}
	dir := t.TempDir()
	mounted := map[string]bool{}
	for _, it := range src.Items {
		data, ok := cm.Data[it.Key]
		if !ok {
			t.Errorf("volume item %s: ConfigMap %s has no such key", it.Key, cm.Name)
			continue
		}
		if want := strings.ReplaceAll(it.Key, "--", "/"); it.Path != want {
			t.Errorf("ConfigMap key %s is mounted at %s, want %s", it.Key, it.Path, want)
		}
		mounted[it.Key] = true
		file := filepath.Join(dir, filepath.FromSlash(it.Path))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, file, data)
	}
	for key := range cm.Data {
		if !mounted[key] {
			t.Errorf("ConfigMap %s has %s, which the Deployment does not mount (add it to the volume's items)", cm.Name, key)
		}
	}
	return dir
}

// configEnvRefs lists, sorted, the variables the mapping files of a
// configuration directory read through ${...}.
func configEnvRefs(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	files, err := fs.Glob(fsys, "departments/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no mapping files (%v)", err)
	}
	var refs []string
	for _, f := range files {
		b, err := fs.ReadFile(fsys, path.Clean(f))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range connectors.EnvReferences(b) {
			if !slices.Contains(refs, name) {
				refs = append(refs, name)
			}
		}
	}
	slices.Sort(refs)
	return refs
}

func selector(t *testing.T, m map[string]string) labels.Selector {
	t.Helper()
	if len(m) == 0 {
		t.Fatal("an empty selector selects every pod")
	}
	return labels.SelectorFromSet(m)
}
