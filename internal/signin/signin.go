// Package signin signs staff in to the hub's pages (/report, /map and the
// other staff pages) through the city's OpenID Connect provider, and gives
// the pages short-lived hub tokens for their API calls.
//
// # The flow
//
//	GET  /auth/login?return=/report   -> the provider's authorization endpoint
//	GET  /auth/callback?code&state    <- the provider, with a code
//	POST /auth/token                  -> {"token": ..., "expiresAt": ...}, or {"signIn": "/auth/login"}
//	POST /auth/logout                 -> the session cookie cleared
//
// Login starts an authorization code flow with PKCE (S256) and a nonce; the
// state, the nonce, the code verifier and where to return are kept in a
// cookie sealed with AES-GCM under a key derived from the master key, so
// whichever replica the provider sends the staff member back to finishes the
// sign-in. The callback checks the state, exchanges the code with the
// verifier, verifies the ID token (signature by the provider's published
// keys, issuer, audience, expiry, nonce), adds the provider's userinfo claims,
// and maps the claims onto a role, a department and a grid scope by
// signin.yaml of the configuration directory (Mapping). No rule applies: the
// member of staff is refused. The result is a session cookie (sealed alike,
// HttpOnly, SameSite=Strict, valid for SessionTTL) that holds the principal.
//
// The pages never see the provider's tokens. They ask POST /auth/token for a
// hub token (EdDSA, from auth.SessionIssuer, valid for TokenTTL, 10 minutes
// by default, never past the session) and send it as the bearer token of
// every API call, like any other client; when it is about to expire they ask
// again. The request must carry the header X-Gridhub-Session: a form on
// another site cannot set it, and a script on another site cannot send it
// without a CORS grant the hub never gives.
//
// Without a provider configured, Disabled answers the same paths so that the
// pages know to offer a dev hub's paste-a-token card, or to say that sign-in
// is not set up.
package signin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gridhub/gridhub/internal/auth"
)

// The hub's sign-in paths.
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
	TokenPath    = "/auth/token"
	LogoutPath   = "/auth/logout"
)

// SessionHeader must be on POST /auth/token and /auth/logout (any value):
// what keeps another site from using a signed-in browser's cookie.
const SessionHeader = "X-Gridhub-Session"

// Defaults of Options.
const (
	DefaultTokenTTL   = 10 * time.Minute
	DefaultSessionTTL = 8 * time.Hour
	// loginTTL bounds a sign-in under way: from leaving for the provider to
	// coming back.
	loginTTL = 10 * time.Minute
)

// Options configure the sign-in.
type Options struct {
	// Issuer is the provider's issuer URL (GRIDHUB_OIDC_ISSUER): its
	// discovery document is read from Issuer/.well-known/openid-configuration.
	// It must be https unless it is on a loopback address.
	Issuer string
	// ClientID and ClientSecret are the hub's registration with the
	// provider (GRIDHUB_OIDC_CLIENT_ID, GRIDHUB_OIDC_CLIENT_SECRET); the
	// secret is optional for a public client, which PKCE protects alone.
	ClientID, ClientSecret string
	// RedirectURL is CallbackPath on the hub's address as the provider
	// knows it (GRIDHUB_OIDC_REDIRECT_URL), e.g.
	// https://hub.city.example/auth/callback. Its scheme decides whether
	// cookies are Secure.
	RedirectURL string
	// Scopes asked for besides openid (GRIDHUB_OIDC_SCOPES, default
	// "profile"): whatever the mapping's claims need, e.g. groups.
	Scopes []string
	// TokenTTL is the life of a hub token (GRIDHUB_SESSION_TOKEN_TTL);
	// SessionTTL of a sign-in (GRIDHUB_OIDC_SESSION_TTL).
	TokenTTL, SessionTTL time.Duration
	// TokenKey signs hub tokens (secret.Keys.SessionTokenKey); CookieKey
	// seals the cookies (secret.Keys.SignInCookieKey).
	TokenKey  ed25519.PrivateKey
	CookieKey []byte
	// Mapping is the claims mapping in force (the configuration's
	// signin.yaml, which a reload may change); nil refuses everyone.
	Mapping func() *Mapping
	// Dev says the pages may also offer the paste-a-token card.
	Dev bool
	// HTTPClient reaches the provider (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// Logger receives a line per sign-in and per refusal (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the sign-in: an http.Handler for the paths under /auth/.
type Service struct {
	opts   Options
	secure bool
	sealer *sealer

	mu       sync.Mutex
	provider *oidc.Provider
	endpoint string // the provider's end_session_endpoint, if any
}

// New checks opts and returns the sign-in. The provider is asked for its
// discovery document at the first sign-in, and again after a failure, so a
// provider down when the hub starts does not keep the hub down.
func New(opts Options) (*Service, error) {
	iss, err := url.Parse(opts.Issuer)
	if err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http") {
		return nil, fmt.Errorf("signin: issuer %q is not an http(s) URL", opts.Issuer)
	}
	if iss.Scheme == "http" && !loopback(iss.Hostname()) {
		return nil, fmt.Errorf("signin: issuer %q must be https: its keys and tokens would travel in clear", opts.Issuer)
	}
	red, err := url.Parse(opts.RedirectURL)
	if err != nil || red.Host == "" || (red.Scheme != "https" && red.Scheme != "http") || red.Path != CallbackPath {
		return nil, fmt.Errorf("signin: redirect URL %q must be the hub's address with the path %s", opts.RedirectURL, CallbackPath)
	}
	if opts.ClientID == "" {
		return nil, errors.New("signin: no client id")
	}
	if len(opts.TokenKey) != ed25519.PrivateKeySize {
		return nil, errors.New("signin: no token key")
	}
	sl, err := newSealer(opts.CookieKey)
	if err != nil {
		return nil, err
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.TokenTTL > auth.MaxSessionTokenTTL {
		return nil, fmt.Errorf("signin: token ttl %s is longer than %s", opts.TokenTTL, auth.MaxSessionTokenTTL)
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = []string{"profile"}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Mapping == nil {
		opts.Mapping = func() *Mapping { return nil }
	}
	return &Service{opts: opts, secure: red.Scheme == "https", sealer: sl}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeHTTP routes the paths under /auth/.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == LoginPath && r.Method == http.MethodGet:
		s.login(w, r)
	case r.URL.Path == CallbackPath && r.Method == http.MethodGet:
		s.callback(w, r)
	case r.URL.Path == TokenPath && r.Method == http.MethodPost:
		s.token(w, r)
	case r.URL.Path == LogoutPath && r.Method == http.MethodPost:
		s.logout(w, r)
	default:
		http.NotFound(w, r)
	}
}

// oauth returns the provider and the hub's OAuth 2 client for it,
// discovering the provider when not done yet.
func (s *Service) oauth(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider == nil {
		// The provider keeps this context for fetching its keys later:
		// the client, not the request's deadline.
		p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), s.opts.HTTPClient), s.opts.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("signin: discover %s: %w", s.opts.Issuer, err)
		}
		var extra struct {
			EndSession string `json:"end_session_endpoint"`
		}
		_ = p.Claims(&extra)
		s.provider, s.endpoint = p, extra.EndSession
	}
	return s.provider, &oauth2.Config{
		ClientID:     s.opts.ClientID,
		ClientSecret: s.opts.ClientSecret,
		Endpoint:     s.provider.Endpoint(),
		RedirectURL:  s.opts.RedirectURL,
		Scopes:       append([]string{oidc.ScopeOpenID}, s.opts.Scopes...),
	}, nil
}

// loginState is what the sign-in cookie holds while the staff member is at
// the provider.
type loginState struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Return   string `json:"return"`
	Expires  int64  `json:"exp"`
}

// session is what the session cookie holds: the principal the mapping gave.
type session struct {
	Subject    string      `json:"sub"`
	Roles      []auth.Role `json:"roles"`
	Department string      `json:"department,omitempty"`
	Scope      []string    `json:"scope,omitempty"`
	Expires    int64       `json:"exp"`
}

const (
	loginCookie   = "gridhub_signin"
	sessionCookie = "gridhub_session"
)

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	_, cfg, err := s.oauth(r.Context())
	if err != nil {
		s.opts.Logger.Warn("sign-in: identity provider unreachable", "err", err)
		s.page(w, http.StatusBadGateway, "统一身份认证暂时无法访问", "无法连接统一身份认证服务，请稍后重试。", safeReturn(r.URL.Query().Get("return")))
		return
	}
	st := loginState{
		State:    random(),
		Nonce:    random(),
		Verifier: oauth2.GenerateVerifier(),
		Return:   safeReturn(r.URL.Query().Get("return")),
		Expires:  s.opts.Now().Add(loginTTL).Unix(),
	}
	if err := s.setCookie(w, loginCookie, CallbackPath, http.SameSiteLaxMode, st, loginTTL); err != nil {
		http.Error(w, "sign-in: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The provider's redirect back is a top-level navigation from its site:
	// a SameSite=Lax cookie goes with it, a Strict one would not.
	http.Redirect(w, r, cfg.AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce)), http.StatusFound)
}

func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var st loginState
	err := s.readCookie(r, loginCookie, &st)
	// One use only, whatever comes of it.
	s.clearCookie(w, loginCookie, CallbackPath)
	if err != nil || st.Expires < s.opts.Now().Unix() {
		s.page(w, http.StatusBadRequest, "登录已过期", "这次登录没有在本系统开始，或已超过 10 分钟，请重新登录。", "/")
		return
	}
	if e := q.Get("error"); e != "" {
		s.opts.Logger.Info("sign-in refused by the identity provider", "error", e, "description", q.Get("error_description"))
		s.page(w, http.StatusForbidden, "未能登录", "统一身份认证没有完成登录（"+e+"）。", st.Return)
		return
	}
	if q.Get("state") == "" || q.Get("state") != st.State {
		s.page(w, http.StatusBadRequest, "登录请求无效", "登录请求与本次登录不符，请重新登录。", st.Return)
		return
	}
	p, err := s.finish(r.Context(), q.Get("code"), st)
	if errors.Is(err, ErrNotAuthorized) {
		s.opts.Logger.Warn("sign-in refused", "reason", err)
		s.page(w, http.StatusForbidden, "账号未获授权", "您的账号已通过统一身份认证，但未被授权使用本系统。请联系管理员开通。", "")
		return
	}
	if err != nil {
		s.opts.Logger.Warn("sign-in failed", "err", err)
		s.page(w, http.StatusUnauthorized, "登录失败", "无法确认统一身份认证的登录结果，请重新登录。", st.Return)
		return
	}
	sess := session{Subject: p.Subject, Roles: p.Roles, Department: p.Department, Scope: p.Scope,
		Expires: s.opts.Now().Add(s.opts.SessionTTL).Unix()}
	if err := s.setCookie(w, sessionCookie, "/auth", http.SameSiteStrictMode, sess, s.opts.SessionTTL); err != nil {
		http.Error(w, "sign-in: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.opts.Logger.Info("signed in", "subject", p.Subject, "roles", p.Roles, "department", p.Department, "scope", len(p.Scope))
	http.Redirect(w, r, st.Return, http.StatusFound)
}

// finish exchanges the code, verifies the ID token and maps its claims (with
// the userinfo claims the provider adds) onto a principal.
func (s *Service) finish(ctx context.Context, code string, st loginState) (auth.Principal, error) {
	provider, cfg, err := s.oauth(ctx)
	if err != nil {
		return auth.Principal{}, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.opts.HTTPClient)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return auth.Principal{}, fmt.Errorf("signin: exchange the code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return auth.Principal{}, errors.New("signin: the provider returned no ID token")
	}
	idt, err := provider.VerifierContext(oidc.ClientContext(ctx, s.opts.HTTPClient), &oidc.Config{ClientID: s.opts.ClientID, Now: s.opts.Now}).Verify(ctx, raw)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("signin: ID token: %w", err)
	}
	if idt.Nonce != st.Nonce {
		return auth.Principal{}, errors.New("signin: the ID token's nonce is not this sign-in's")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return auth.Principal{}, fmt.Errorf("signin: ID token claims: %w", err)
	}
	// Providers often keep groups and the like for the userinfo endpoint.
	if provider.UserInfoEndpoint() != "" {
		ui, err := provider.UserInfo(oidc.ClientContext(ctx, s.opts.HTTPClient), oauth2.StaticTokenSource(tok))
		if err != nil {
			return auth.Principal{}, fmt.Errorf("signin: userinfo: %w", err)
		}
		if ui.Subject != idt.Subject {
			return auth.Principal{}, errors.New("signin: userinfo names another subject than the ID token")
		}
		more := map[string]any{}
		if err := ui.Claims(&more); err != nil {
			return auth.Principal{}, fmt.Errorf("signin: userinfo claims: %w", err)
		}
		for k, v := range more {
			if _, had := claims[k]; !had {
				claims[k] = v
			}
		}
	}
	m := s.opts.Mapping()
	if m == nil {
		return auth.Principal{}, fmt.Errorf("%w: no sign-in mapping (signin.yaml) is configured", ErrNotAuthorized)
	}
	return m.Principal(claims)
}

// tokenAnswer is POST /auth/token's answer: a token, or, when not signed
// in (still 200: the pages ask on every load), where to sign in.
type tokenAnswer struct {
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// When not signed in: where to sign in ("" when sign-in is not
	// configured), and whether the paste-a-token card may be offered.
	SignIn string `json:"signIn,omitempty"`
	Dev    bool   `json:"dev"`
	Error  string `json:"error,omitempty"`
}

func (s *Service) token(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(SessionHeader) == "" {
		writeJSON(w, http.StatusForbidden, tokenAnswer{Error: "the " + SessionHeader + " header is required", Dev: s.opts.Dev})
		return
	}
	var sess session
	if err := s.readCookie(r, sessionCookie, &sess); err != nil || sess.Expires <= s.opts.Now().Unix() {
		if err == nil {
			s.clearCookie(w, sessionCookie, "/auth")
		}
		// Not an error for the page, which asks on every load: where to go.
		writeJSON(w, http.StatusOK, tokenAnswer{SignIn: LoginPath, Dev: s.opts.Dev})
		return
	}
	ttl := min(s.opts.TokenTTL, time.Unix(sess.Expires, 0).Sub(s.opts.Now()))
	p := auth.Principal{Subject: sess.Subject, Roles: sess.Roles, Department: sess.Department, Scope: sess.Scope}
	tok, err := auth.SessionToken(s.opts.TokenKey, p, ttl)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, tokenAnswer{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, tokenAnswer{Token: tok, ExpiresAt: s.opts.Now().Add(ttl).UTC().Truncate(time.Second), Dev: s.opts.Dev})
}

// logoutAnswer is POST /auth/logout's answer: where to end the provider's
// own session too, when it says.
type logoutAnswer struct {
	EndSession string `json:"endSession,omitempty"`
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(SessionHeader) == "" {
		writeJSON(w, http.StatusForbidden, tokenAnswer{Error: "the " + SessionHeader + " header is required"})
		return
	}
	s.clearCookie(w, sessionCookie, "/auth")
	s.mu.Lock()
	end := s.endpoint
	s.mu.Unlock()
	if end != "" {
		u, err := url.Parse(end)
		if err == nil {
			q := u.Query()
			q.Set("client_id", s.opts.ClientID)
			u.RawQuery = q.Encode()
			end = u.String()
		}
	}
	writeJSON(w, http.StatusOK, logoutAnswer{EndSession: end})
}

// Disabled answers the sign-in paths of a hub without a provider: POST
// /auth/token gives no token and no place to sign in (and, on a dev hub,
// says the paste-a-token card is offered); the rest are not found.
func Disabled(dev bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == TokenPath && r.Method == http.MethodPost {
			writeJSON(w, http.StatusOK, tokenAnswer{Dev: dev})
			return
		}
		http.NotFound(w, r)
	})
}

// safeReturn keeps a return address on this hub: a path, never another
// site ("//evil.example", "/\evil.example", "https://...").
func safeReturn(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) ||
		strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(p); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return p
}

func random() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) setCookie(w http.ResponseWriter, name, path string, site http.SameSite, v any, ttl time.Duration) error {
	value, err := s.sealer.seal(name, v)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: site})
	return nil
}

func (s *Service) readCookie(r *http.Request, name string, v any) error {
	c, err := r.Cookie(name)
	if err != nil {
		return err
	}
	return s.sealer.open(name, c.Value, v)
}

func (s *Service) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: s.secure})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var pageTemplate = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · gridhub</title>
<style>body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.6}a{display:inline-block;margin-top:1rem}</style>
</head><body>
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Again}}<a id="again" href="{{.Again}}">重新登录</a>{{end}}
</body></html>`))

// page answers a sign-in that cannot go on with a page saying why, in
// Chinese, and a link to sign in again (to return, when not empty).
func (s *Service) page(w http.ResponseWriter, status int, title, message, ret string) {
	var again string
	if ret != "" {
		again = LoginPath + "?return=" + url.QueryEscape(ret)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	pageTemplate.Execute(w, struct{ Title, Message, Again string }{title, message, again})
}
