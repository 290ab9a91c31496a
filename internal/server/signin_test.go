package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/signin"
	"github.com/gridhub/gridhub/internal/testcity"
)

// cityStorage is zitadel/oidc's example provider storage with the claims a
// city's directory gives its staff (groups, grid codes), which the example
// users lack, added to what the userinfo endpoint answers.
type cityStorage struct {
	*storage.Storage
	claims map[string]map[string]any // user id -> claims
}

// SetUserinfoFromToken adds the user's directory claims to the userinfo
// answer.
func (s *cityStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	for k, v := range s.claims[subject] {
		info.AppendClaims(k, v)
	}
	return nil
}

// provider runs a real OpenID provider (zitadel/oidc's op package with its
// example login and storage) with three members of staff, and registers
// the hub as a web client whose redirect is redirect.
func provider(t *testing.T, redirect, gridCode string) *httptest.Server {
	t.Helper()
	users := map[string]*storage.User{
		"u-wang": {ID: "u-wang", Username: "wang.wu", Password: "wang-pass", FirstName: "五", LastName: "王"},
		"u-li":   {ID: "u-li", Username: "li.si", Password: "li-pass", FirstName: "四", LastName: "李"},
		"u-zhao": {ID: "u-zhao", Username: "zhao.liu", Password: "zhao-pass", FirstName: "六", LastName: "赵"},
		"u-chen": {ID: "u-chen", Username: "chen.qi", Password: "chen-pass", FirstName: "七", LastName: "陈"},
	}
	b, err := json.Marshal(users)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := storage.StoreFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := &cityStorage{Storage: storage.NewStorage(store), claims: map[string]map[string]any{
		"u-wang": {"groups": []string{"grid-workers"}, "grid_codes": []string{gridCode}},
		"u-li":   {"groups": []string{"minzheng-officers", "auditors"}},
		"u-zhao": {"groups": []string{"visitors"}},
		"u-chen": {"groups": []string{"gridhub-admins"}},
	}}
	storage.RegisterClients(storage.WebClient("gridhub", "gridhub-secret", redirect))
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = exampleop.SetupServer("http://"+srv.Listener.Addr().String()+"/", st, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// signInHubs starts two hub replicas (the same keys and configuration, as
// behind one load balancer) with staff sign-in through a real provider; the
// provider sends staff back to the second.
func signInHubs(t *testing.T) (a, b *hub, op *httptest.Server, gridCode string) {
	t.Helper()
	fx := testcity.Load(t)
	gridCode = fx.City.Persons[0].GridCode
	srvA, srvB := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	redirect := "http://" + srvB.Listener.Addr().String() + signin.CallbackPath
	op = provider(t, redirect, gridCode)
	raw, err := os.ReadFile("../signin/sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start := func(srv *httptest.Server) *hub {
		opts, ledger := hubOptions(t, fx)
		m, err := signin.ParseMapping("signin.yaml", raw, opts.Config.Get().Codes())
		if err != nil {
			t.Fatal(err)
		}
		s, err := signin.New(signin.Options{
			Issuer: op.URL + "/", ClientID: "gridhub", ClientSecret: "gridhub-secret", RedirectURL: redirect,
			TokenKey: fx.Keys.SessionTokenKey(), CookieKey: fx.Keys.SignInCookieKey(),
			Mapping: func() *signin.Mapping { return m },
		})
		if err != nil {
			t.Fatal(err)
		}
		v, err := auth.NewVerifier(auth.Config{SessionKey: fx.Keys.SessionTokenKey().Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		opts.Auth, opts.SignIn = v, s
		srv.Config.Handler = server.New(opts)
		srv.Start()
		t.Cleanup(srv.Close)
		return &hub{t: t, srv: srv, fx: fx, ledger: ledger}
	}
	return start(srvA), start(srvB), op, gridCode
}

// staffBrowser is a member of staff's browser: a cookie jar, and the
// redirects it was sent through.
type staffBrowser struct {
	t      *testing.T
	client *http.Client
	visits []*url.URL
}

func newStaffBrowser(t *testing.T) *staffBrowser {
	jar, _ := cookiejar.New(nil)
	b := &staffBrowser{t: t}
	b.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.visits = append(b.visits, req.URL)
		return nil
	}}
	return b
}

var loginForm = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn starts at hub's /auth/login, signs in at the provider's login page
// with username and password, and returns the last answer (after every
// redirect) with its body.
func (b *staffBrowser) signIn(h *hub, username, password string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(h.srv.URL + signin.LoginPath + "?return=/report")
	m := loginForm.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no login form at the provider (%s): %.300s", resp.Request.URL, body)
	}
	form := url.Values{"id": {m[1]}, "username": {username}, "password": {password}}
	login := *resp.Request.URL
	login.Path, login.RawQuery = "/login/username", ""
	r, err := b.client.PostForm(login.String(), form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer r.Body.Close()
	out, _ := io.ReadAll(r.Body)
	return r, string(out)
}

func (b *staffBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// post sends a POST to a sign-in path, with the session header unless bare.
func (b *staffBrowser) post(u string, bare bool) (int, map[string]any) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, nil)
	if !bare {
		req.Header.Set(signin.SessionHeader, "1")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestStaffSignInThroughTheCityProvider signs staff in through a real
// OpenID provider: the authorization code flow with PKCE and a nonce,
// started on one replica and finished on another; the provider's claims
// mapped by signin.yaml onto a grid worker's grid; the API called with the
// short-lived hub token the page is given, within that grid only; a member
// of staff no rule maps is refused; a forged callback is refused; signing
// out ends the session.
func TestStaffSignInThroughTheCityProvider(t *testing.T) {
	a, b, op, gridCode := signInHubs(t)

	// Not signed in: the pages are told where to sign in.
	anon := newStaffBrowser(t)
	if code, out := anon.post(a.srv.URL+signin.TokenPath, false); code != http.StatusOK || out["signIn"] != signin.LoginPath || out["token"] != nil {
		t.Fatalf("token before signing in: %d %v", code, out)
	}

	// The grid worker signs in: sent to the provider from hub a, back to hub b.
	wang := newStaffBrowser(t)
	resp, _ := wang.signIn(a, "wang.wu", "wang-pass")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/report" || !strings.HasPrefix(resp.Request.URL.String(), b.srv.URL) {
		t.Fatalf("after signing in: %d at %s, want the report page on the replica the provider returns to", resp.StatusCode, resp.Request.URL)
	}
	var authorize *url.URL
	for _, v := range wang.visits {
		if strings.HasPrefix(v.String(), op.URL) && v.Query().Get("response_type") == "code" {
			authorize = v
		}
	}
	if authorize == nil {
		t.Fatalf("never sent to the provider's authorization endpoint: %v", wang.visits)
	}
	q := authorize.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43 || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("authorization request without PKCE S256, nonce or state: %s", authorize)
	}

	// Either replica gives the page a hub token for the session.
	var token string
	for _, h := range []*hub{a, b} {
		code, out := wang.post(h.srv.URL+signin.TokenPath, false)
		tok, _ := out["token"].(string)
		if code != http.StatusOK || tok == "" {
			t.Fatalf("token from %s: %d %v", h.srv.URL, code, out)
		}
		token = tok
	}
	claims := decodeClaims(t, token)
	if claims["iss"] != auth.SessionIssuer || claims["sub"] != "wang.wu" || claims["scope"].([]any)[0] != gridCode {
		t.Errorf("hub token claims %v", claims)
	}
	if exp := time.Unix(int64(claims["exp"].(float64)), 0); time.Until(exp) > signin.DefaultTokenTTL || time.Until(exp) <= 0 {
		t.Errorf("hub token expires at %s, want within %s", exp, signin.DefaultTokenTTL)
	}
	// Without the session header another site's form could use the cookie.
	if code, _ := wang.post(a.srv.URL+signin.TokenPath, true); code != http.StatusForbidden {
		t.Errorf("token without %s: %d, want 403", signin.SessionHeader, code)
	}

	// The API, on the hub token: the worker's grid, and nothing else.
	worker := *a
	worker.token = token
	worker.purpose = ""
	var page struct {
		People struct{ TotalCount int } `json:"people"`
	}
	worker.mustQuery(`query($g: ID!) { people(within: $g) { totalCount } }`, map[string]any{"g": gridCode}, &page)
	if page.People.TotalCount == 0 {
		t.Error("the grid worker sees nobody in its own grid")
	}
	var wide, all struct {
		People struct{ TotalCount int } `json:"people"`
	}
	district := gridCode[:6]
	worker.mustQuery(`query($d: ID!) { people(within: $d) { totalCount } }`, map[string]any{"d": district}, &wide)
	admin := *a
	var err error
	if admin.token, err = auth.SessionToken(a.fx.Keys.SessionTokenKey(), auth.Principal{Subject: "admin", Roles: []auth.Role{auth.Admin}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	admin.mustQuery(`query($d: ID!) { people(within: $d) { totalCount } }`, map[string]any{"d": district}, &all)
	if wide.People.TotalCount != page.People.TotalCount || all.People.TotalCount <= page.People.TotalCount {
		t.Errorf("the grid worker asked for the district and got %d persons; its grid holds %d, the district %d",
			wide.People.TotalCount, page.People.TotalCount, all.People.TotalCount)
	}

	// A member of staff no rule maps: refused, and no session.
	zhao := newStaffBrowser(t)
	resp, body := zhao.signIn(a, "zhao.liu", "zhao-pass")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "未被授权") {
		t.Errorf("an unmapped member of staff: %d %.200s", resp.StatusCode, body)
	}
	if _, out := zhao.post(b.srv.URL+signin.TokenPath, false); out["token"] != nil {
		t.Errorf("a token for the refused member of staff: %v", out)
	}

	// A callback this browser did not start, and one replayed.
	li := newStaffBrowser(t)
	if resp, _ := li.get(b.srv.URL + signin.CallbackPath + "?code=made-up&state=made-up"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a callback with no sign-in under way: %d, want 400", resp.StatusCode)
	}
	li.signIn(a, "li.si", "li-pass")
	var callback *url.URL
	for _, v := range li.visits {
		if v.Path == signin.CallbackPath {
			callback = v
		}
	}
	if callback == nil {
		t.Fatal("the provider never sent li.si back")
	}
	if resp, _ := li.get(callback.String()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the callback replayed: %d, want 400", resp.StatusCode)
	}
	code, out := li.post(a.srv.URL+signin.TokenPath, false)
	if code != http.StatusOK {
		t.Fatalf("li.si's token: %d %v", code, out)
	}
	if c := decodeClaims(t, out["token"].(string)); c["department"] != "civil_affairs" {
		t.Errorf("li.si's claims %v, want a civil affairs officer", c)
	}

	// Signing out ends the session on every replica, and names the
	// provider's end-session endpoint to end its own.
	code, out = li.post(b.srv.URL+signin.LogoutPath, false)
	if end, _ := out["endSession"].(string); code != http.StatusOK || !strings.HasPrefix(end, op.URL) {
		t.Errorf("sign out: %d %v", code, out)
	}
	if _, out := li.post(a.srv.URL+signin.TokenPath, false); out["token"] != nil {
		t.Errorf("a token after signing out: %v", out)
	}
}

func decodeClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReportPageSignsInThroughTheProvider signs in to the report page in
// headless Chromium as staff do: the page offers the identity provider's
// button (and, on this dev hub, the paste-a-token card), the provider's
// login form takes the password, the page comes back signed in on a hub
// token and works; signed out, it offers the provider's button again.
func TestReportPageSignsInThroughTheProvider(t *testing.T) {
	keys, err := secret.New(bytes.Repeat([]byte{9}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newPagesHub(t, func(opts *server.Options, hubURL string) {
		redirect := hubURL + signin.CallbackPath
		op := provider(t, redirect, "")
		raw, err := os.ReadFile("../signin/sample.yaml")
		if err != nil {
			t.Fatal(err)
		}
		m, err := signin.ParseMapping("signin.yaml", raw, opts.Config.Get().Codes())
		if err != nil {
			t.Fatal(err)
		}
		s, err := signin.New(signin.Options{
			Issuer: op.URL + "/", ClientID: "gridhub", ClientSecret: "gridhub-secret", RedirectURL: redirect,
			TokenKey: keys.SessionTokenKey(), CookieKey: keys.SignInCookieKey(), Dev: true,
			Mapping: func() *signin.Mapping { return m },
		})
		if err != nil {
			t.Fatal(err)
		}
		// Dev tokens still work beside the session's: a dev hub.
		v, err := auth.NewVerifier(auth.Config{Dev: true, DevKey: testKey, SessionKey: keys.SessionTokenKey().Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		opts.Auth, opts.SignIn = v, s
	})

	p := newPage(t, 1000, 800, false)
	p.do(chromedp.Navigate(h.srv.URL+"/report"), chromedp.WaitVisible(chromedp.CSS("#signin-provider")))
	if p.text("#dev-hint") == "" {
		t.Error("a dev hub's page does not offer the paste-a-token card beside the provider's button")
	}
	p.do(chromedp.Click(chromedp.CSS("#signin-provider")), chromedp.WaitVisible(chromedp.CSS("#username")))
	p.do(chromedp.SetValue(chromedp.CSS("#username"), "chen.qi"), chromedp.SetValue(chromedp.CSS("#password"), "chen-pass"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	// Through the provider and back: the page is the hub's again. What the
	// provider's own pages logged (their missing favicon) is not the hub's.
	waitLocation(t, p, "back at the report page", func(at string) bool { return strings.HasPrefix(at, h.srv.URL+"/report") })
	p.mu.Lock()
	p.bad = nil
	p.mu.Unlock()
	p.wait("the templates, signed in", `!!document.querySelector('[data-template="home_visit"]')`)
	var loc string
	p.eval(`location.pathname`, &loc)
	if loc != "/report" {
		t.Errorf("after signing in the page is %s, want /report", loc)
	}
	if who := p.text("#account .who"); !strings.Contains(who, "chen.qi") {
		t.Errorf("account shows %q, want chen.qi", who)
	}
	var iss string
	p.eval(`(GH.claims(GH.token()) || {}).iss || ''`, &iss)
	if iss != auth.SessionIssuer {
		t.Errorf("the page calls the API on a token from %q, want the hub's session token", iss)
	}
	if errs := p.errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}

	// Signed out: the session is over, the provider's button again.
	p.do(chromedp.Click(chromedp.CSS("#signout")))
	waitLocation(t, p, "signed out, off the report page", func(at string) bool { return !strings.HasPrefix(at, h.srv.URL+"/report") })
	p.do(chromedp.Navigate(h.srv.URL+"/report"), chromedp.WaitVisible(chromedp.CSS("#signin-provider")))
}

// waitLocation waits, through navigations, until the page's address
// satisfies ok.
func waitLocation(t *testing.T, p *page, what string, ok func(at string) bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		if at, err := chromedp.Run(p.ctx, chromedp.Location()); err == nil && ok(at) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within a minute (page errors: %v)", what, p.errors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
