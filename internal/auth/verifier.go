package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/httprc/v3/errsink"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Config configures a Verifier.
type Config struct {
	// JWKSFile is a JSON Web Key Set (or a single JWK) on disk, read once at start.
	JWKSFile string
	// JWKSURL is a JSON Web Key Set served by the identity provider, fetched at
	// start and refreshed every RefreshInterval, and at once (at most every
	// onDemandRefreshGap) when a token names a key id the set lacks, so a key
	// rotation is picked up without waiting. It must be https unless the host is
	// a loopback address or Dev is set.
	JWKSURL string
	// DevKey is the HS256 secret of dev tokens (at least 32 bytes). Only
	// allowed with Dev: a symmetric key in production would let anyone holding
	// it mint tokens for any role.
	DevKey []byte
	// Dev accepts HS256 tokens signed with DevKey, besides the JWKS keys if any.
	Dev bool
	// SessionKey, when set, is the public half of the key the hub signs its
	// own session tokens with (SessionToken): EdDSA tokens from
	// SessionIssuer to SessionAudience are accepted under it.
	SessionKey ed25519.PublicKey
	// Issuer and Audience, when set, must match the "iss" and "aud" claims.
	Issuer   string
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// Departments lists the departments configured now: a dept_officer's
	// token must name one of them. Nil accepts any well-formed code.
	Departments func() []string
	// RefreshInterval is how often JWKSURL is fetched again; zero means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// HTTPClient fetches JWKSURL; nil means jwx's default client, which has a
	// timeout and refuses redirects to other schemes.
	HTTPClient *http.Client
	// Logger receives JWKS refresh failures and skipped keys; nil means
	// slog.Default().
	Logger *slog.Logger
	// OpenPaths are request paths (exact match, e.g. HealthPaths) that
	// Middleware passes through without a token, for when it wraps a whole mux.
	OpenPaths []string
}

// String describes c for a start-up log with the dev key masked.
func (c Config) String() string {
	key := "(unset)"
	if len(c.DevKey) > 0 {
		key = "(set)"
	}
	return fmt.Sprintf("jwks_file=%q jwks_url=%q dev=%t dev_key=%s issuer=%q audience=%q", c.JWKSFile, c.JWKSURL, c.Dev, key, c.Issuer, c.Audience)
}

// LogValue logs c as String does, so slog never prints the dev key either.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Defaults for Config's zero values.
const (
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = 15 * time.Minute
	// MaxTokenLen bounds a token before any parsing: real tokens are well under
	// 4 KiB, and a cap keeps base64 and JSON work per request small.
	MaxTokenLen = 8 << 10
	// MinDevKeyLen is the shortest HS256 dev key accepted (RFC 7518 §3.2: a key
	// at least as long as the hash output).
	MinDevKeyLen = 32
	// onDemandRefreshGap is the least time between two fetches triggered by an
	// unknown key id, so a stream of made-up key ids cannot hammer the provider.
	onDemandRefreshGap = 10 * time.Second
	minRSABits         = 2048
)

// HealthPaths are the probe paths that stay open to everyone.
var HealthPaths = []string{"/healthz", "/readyz"}

// Claim names beyond the registered JWT ones.
const (
	ClaimRoles      = "roles"
	ClaimDepartment = "department"
	ClaimScope      = "scope"
)

// Verifier checks bearer tokens and turns them into Principals. It is safe for
// concurrent use.
type Verifier struct {
	cfg    Config
	now    func() time.Time
	leeway time.Duration
	log    *slog.Logger
	open   map[string]bool

	static  []vkey // from JWKSFile
	dev     []byte
	session []vkey // the session key, when configured

	cache  *jwk.Cache // JWKSURL, nil without one
	cancel context.CancelFunc

	mu           sync.Mutex
	urlSet       jwk.Set // the set urlKeys was built from
	urlKeys      []vkey
	keyGen       uint64 // moves when urlKeys are rebuilt
	lastOnDemand time.Time

	// verified remembers tokens already verified, so that a client sending
	// the same token with every request pays for its signature once a
	// minute rather than every time.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedToken is a token that passed verification: its principal, and
// until when the verification stands (its expiry, and at most
// verifiedFor after it was checked, so that a key withdrawn from the set
// stops being honoured within that time).
type verifiedToken struct {
	p     *Principal
	until time.Time
	gen   uint64 // the key generation it was verified under
}

// verifiedFor bounds how long a verified token is trusted without checking
// its signature again; verifiedTokens how many are remembered.
const (
	verifiedFor    = time.Minute
	verifiedTokens = 10_000
)

// vkey is one usable verification key: the algorithm comes from the key set,
// never from a token.
type vkey struct {
	kid string
	alg jwa.SignatureAlgorithm
	key any // *rsa.PublicKey, *ecdsa.PublicKey, []byte for the dev key, ed25519.PublicKey for the session key
	// session marks the session key: its tokens are the hub's own, checked
	// for SessionIssuer and SessionAudience.
	session bool
}

// NewVerifier checks cfg, loads the key set (fetching JWKSURL once) and returns
// a Verifier. Call Close to stop the JWKS refresh.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{cfg: cfg, now: cfg.Now, leeway: cfg.Leeway, log: cfg.Logger, open: map[string]bool{}}
	v.verified, _ = lru.New[string, verifiedToken](verifiedTokens)
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	for _, p := range cfg.OpenPaths {
		v.open[p] = true
	}
	if len(cfg.DevKey) > 0 && !cfg.Dev {
		return nil, errors.New("auth: a dev key is configured outside dev mode; production verifies JWKS keys only")
	}
	if cfg.JWKSFile != "" && cfg.JWKSURL != "" {
		return nil, errors.New("auth: give a JWKS file or a JWKS URL, not both")
	}
	if cfg.SessionKey != nil {
		if len(cfg.SessionKey) != ed25519.PublicKeySize {
			return nil, errSessionKey
		}
		v.session = []vkey{{alg: jwa.EdDSA(), key: append(ed25519.PublicKey(nil), cfg.SessionKey...), session: true}}
	}
	if cfg.Dev {
		if len(cfg.DevKey) < MinDevKeyLen && (len(cfg.DevKey) > 0 || cfg.JWKSFile == "" && cfg.JWKSURL == "") {
			return nil, fmt.Errorf("auth: dev key has %d bytes, want at least %d", len(cfg.DevKey), MinDevKeyLen)
		}
		v.dev = append([]byte(nil), cfg.DevKey...)
	} else if cfg.JWKSFile == "" && cfg.JWKSURL == "" && v.session == nil {
		return nil, errors.New("auth: no keys: set a JWKS file or URL, or a session key (or run in dev mode with a dev key)")
	}
	if cfg.JWKSFile != "" {
		set, err := jwk.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth: read JWKS %s: %w", cfg.JWKSFile, err)
		}
		keys, err := usableKeys(set, true)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS %s: %w", cfg.JWKSFile, err)
		}
		v.static = keys
	}
	if cfg.JWKSURL != "" {
		if err := v.startCache(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// startCache registers JWKSURL with a jwk.Cache, waiting for the first fetch so
// a wrong URL stops start-up instead of failing every request.
func (v *Verifier) startCache() error {
	u, err := url.Parse(v.cfg.JWKSURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("auth: JWKS URL %q is not an http(s) URL", v.cfg.JWKSURL)
	}
	if u.Scheme == "http" && !v.cfg.Dev && !loopback(u.Hostname()) {
		// A key set fetched in clear can be swapped in transit, and with it
		// every token's meaning.
		return fmt.Errorf("auth: JWKS URL %q must be https", v.cfg.JWKSURL)
	}
	interval := v.cfg.RefreshInterval
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	client := httprc.NewClient(httprc.WithErrorSink(errsink.NewFunc(func(_ context.Context, err error) {
		v.log.Warn("auth: JWKS refresh failed; keeping the previous key set", "url", v.cfg.JWKSURL, "err", err)
	})))
	cache, err := jwk.NewCache(ctx, client)
	if err != nil {
		cancel()
		return fmt.Errorf("auth: JWKS cache: %w", err)
	}
	opts := []jwk.RegisterOption{jwk.WithHttprcResourceOption(httprc.WithConstantInterval(interval))}
	if v.cfg.HTTPClient != nil {
		opts = append(opts, jwk.WithHTTPClient(v.cfg.HTTPClient))
	}
	regCtx, regCancel := context.WithTimeout(ctx, 30*time.Second)
	defer regCancel()
	if err := cache.Register(regCtx, v.cfg.JWKSURL, opts...); err != nil {
		cancel()
		return fmt.Errorf("auth: fetch JWKS %s: %w", v.cfg.JWKSURL, err)
	}
	set, err := cache.Lookup(regCtx, v.cfg.JWKSURL)
	if err != nil {
		cancel()
		return fmt.Errorf("auth: fetch JWKS %s: %w", v.cfg.JWKSURL, err)
	}
	keys, err := usableKeys(set, true)
	if err != nil {
		cancel()
		return fmt.Errorf("auth: JWKS %s: %w", v.cfg.JWKSURL, err)
	}
	v.cache, v.cancel = cache, cancel
	v.urlSet, v.urlKeys = set, keys
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close stops the JWKS refresh, if any.
func (v *Verifier) Close() error {
	if v.cancel == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := v.cache.Shutdown(ctx)
	v.cancel()
	return err
}

// usableKeys turns a key set into verification keys. strict (start-up) refuses
// any key that is not a usable public RS256/ES256 key: an operator gets to fix
// the file. Later refreshes are lenient, skipping such keys with a warning, so a
// provider adding an unrelated key cannot lock every user out.
func usableKeys(set jwk.Set, strict bool) ([]vkey, error) {
	var keys []vkey
	var skipped []error
	for i := range set.Len() {
		k, _ := set.Key(i)
		vk, err := usableKey(k)
		if err != nil {
			kid, _ := k.KeyID()
			err = fmt.Errorf("key #%d (kid %q): %w", i, kid, err)
			if strict {
				return nil, err
			}
			skipped = append(skipped, err)
			continue
		}
		keys = append(keys, vk)
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no usable key: %w", errors.Join(skipped...))
		}
		return nil, errors.New("no keys")
	}
	if len(skipped) > 0 {
		return keys, errors.Join(skipped...)
	}
	return keys, nil
}

// usableKey accepts a public key that names its algorithm, RS256 or ES256, and
// whose type fits it. Requiring "alg" in the set is the algorithm-confusion
// defence: the key decides how a signature is checked, never a token header.
func usableKey(k jwk.Key) (vkey, error) {
	a, ok := k.Algorithm()
	if !ok {
		return vkey{}, errors.New(`no "alg"`)
	}
	if u, ok := k.KeyUsage(); ok && u != "" && u != jwk.ForSignature.String() {
		return vkey{}, fmt.Errorf("use %q is not sig", u)
	}
	if private, err := jwk.IsPrivateKey(k); err != nil || private {
		// A verifier never needs a private key; one here means signing
		// material was copied where it should not be.
		return vkey{}, errors.New("a private or symmetric key; publish public keys only")
	}
	kid, _ := k.KeyID()
	switch a.String() {
	case jwa.RS256().String():
		var pub rsa.PublicKey
		if err := jwk.Export(k, &pub); err != nil {
			return vkey{}, fmt.Errorf("RS256 key: %w", err)
		}
		if pub.N.BitLen() < minRSABits {
			return vkey{}, fmt.Errorf("RSA key of %d bits, want at least %d", pub.N.BitLen(), minRSABits)
		}
		return vkey{kid: kid, alg: jwa.RS256(), key: &pub}, nil
	case jwa.ES256().String():
		var pub ecdsa.PublicKey
		if err := jwk.Export(k, &pub); err != nil {
			return vkey{}, fmt.Errorf("ES256 key: %w", err)
		}
		if pub.Curve != elliptic.P256() {
			return vkey{}, errors.New("ES256 key not on P-256")
		}
		return vkey{kid: kid, alg: jwa.ES256(), key: &pub}, nil
	}
	return vkey{}, fmt.Errorf("alg %q is not RS256 or ES256", a.String())
}

// header is the part of a JWS protected header the verifier reads before
// checking the signature.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// parseCompact checks a token is a compact JWS (three non-empty base64url
// parts) and reads its header. Doing this before jwx sees it rejects JWE and
// JSON serialisations and gives a clean "malformed token" for garbage.
func parseCompact(token string) (header, error) {
	var h header
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return h, ErrMalformedToken
	}
	var raw []byte
	for i, p := range parts {
		if p == "" {
			return h, ErrMalformedToken
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return h, fail(ErrMalformedToken, err)
		}
		if i == 0 {
			raw = b
		}
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fail(ErrMalformedToken, err)
	}
	if h.Alg == "" {
		return h, ErrMalformedToken
	}
	return h, nil
}

// Verify checks token and returns its Principal. Every failure is an *Error
// whose Reason is safe to show.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	if len(token) > MaxTokenLen {
		return nil, ErrMalformedToken
	}
	now := v.now()
	gen := v.keyGeneration(ctx)
	if vt, ok := v.verified.Get(token); ok {
		if now.Before(vt.until) && vt.gen == gen {
			p := *vt.p
			return v.checkDepartment(&p)
		}
		v.verified.Remove(token)
	}
	h, err := parseCompact(token)
	if err != nil {
		return nil, err
	}
	if h.Crit != nil || h.B64 != nil {
		// No extension is understood here, so a critical one must fail
		// (RFC 7515 §4.1.11), and b64=false changes what is signed.
		return nil, ErrMalformedToken
	}
	keys, err := v.keysFor(ctx, h.Alg, h.Kid)
	if err != nil {
		return nil, err
	}
	var payload []byte
	var signer vkey
	for _, k := range keys {
		// VerifyCompactFast also checks the header's alg equals k.alg.
		if payload, err = jws.VerifyCompactFast(k.key, []byte(token), k.alg); err == nil {
			signer = k
			break
		}
	}
	if err != nil {
		return nil, fail(ErrBadSignature, err)
	}
	p, err := v.principal(payload, signer.session)
	if err != nil {
		return nil, err
	}
	until := now.Add(verifiedFor)
	if exp := p.ExpiresAt.Add(v.leeway); exp.Before(until) {
		until = exp
	}
	stored := *p
	v.verified.Add(token, verifiedToken{p: &stored, until: until, gen: gen})
	return v.checkDepartment(p)
}

// checkDepartment refuses a dept_officer of a department the configuration
// in force does not have: checked at every request, since a reload may
// remove one.
func (v *Verifier) checkDepartment(p *Principal) (*Principal, error) {
	if v.cfg.Departments != nil {
		if err := p.CheckDepartment(v.cfg.Departments()); err != nil {
			return nil, &Error{Reason: err.Error(), cause: err}
		}
	}
	return p, nil
}

// keysFor picks the keys that may have signed a token with this header. The
// token's alg only selects among keys whose own alg matches, so an HS256 token
// can never be checked against an RSA public key, and "none" matches nothing.
func (v *Verifier) keysFor(ctx context.Context, alg, kid string) ([]vkey, error) {
	switch alg {
	case jwa.HS256().String():
		if v.dev == nil {
			return nil, ErrUnsupportedAlg
		}
		return []vkey{{alg: jwa.HS256(), key: v.dev}}, nil
	case jwa.EdDSA().String():
		// Only the hub's own session key signs EdDSA tokens.
		if v.session == nil {
			return nil, ErrUnsupportedAlg
		}
		return v.session, nil
	case jwa.RS256().String(), jwa.ES256().String():
	default:
		return nil, ErrUnsupportedAlg
	}
	keys := match(v.static, alg, kid)
	if v.cache != nil {
		keys = append(keys, match(v.urlKeysNow(ctx), alg, kid)...)
		if len(keys) == 0 && kid != "" && v.refreshOnDemand(ctx) {
			keys = match(v.urlKeysNow(ctx), alg, kid)
		}
	}
	if len(keys) == 0 {
		if v.cache == nil && v.static == nil {
			return nil, ErrUnsupportedAlg
		}
		return nil, ErrUnknownKey
	}
	return keys, nil
}

// match returns the keys for alg with the given kid; a token without a kid
// matches only when exactly one key has that alg, so it cannot make the
// verifier try every key in a large set.
func match(keys []vkey, alg, kid string) []vkey {
	var out []vkey
	for _, k := range keys {
		if k.alg.String() != alg {
			continue
		}
		if kid == "" || k.kid == kid {
			out = append(out, k)
		}
	}
	if kid == "" && len(out) > 1 {
		return nil
	}
	return out
}

// urlKeysNow returns the keys of the cached JWKS, rebuilding them when the cache
// holds a new set.
func (v *Verifier) urlKeysNow(ctx context.Context) []vkey {
	set, err := v.cache.Lookup(ctx, v.cfg.JWKSURL)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil || set == v.urlSet {
		return v.urlKeys
	}
	keys, err := usableKeys(set, false)
	if err != nil {
		v.log.Warn("auth: JWKS has unusable keys", "url", v.cfg.JWKSURL, "err", err)
	}
	if len(keys) > 0 {
		v.urlKeys = keys
	}
	v.urlSet = set
	v.keyGen++
	return v.urlKeys
}

// keyGeneration is the generation of the JWKS URL's keys in force: it moves
// whenever the set changes, and a token verified under an older one is
// verified again.
func (v *Verifier) keyGeneration(ctx context.Context) uint64 {
	if v.cache == nil {
		return 0
	}
	v.urlKeysNow(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keyGen
}

// refreshOnDemand fetches the JWKS now unless it was fetched on demand within
// onDemandRefreshGap; it reports whether it fetched.
func (v *Verifier) refreshOnDemand(ctx context.Context) bool {
	v.mu.Lock()
	if !v.lastOnDemand.IsZero() && time.Since(v.lastOnDemand) < onDemandRefreshGap {
		v.mu.Unlock()
		return false
	}
	v.lastOnDemand = time.Now()
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := v.cache.Refresh(ctx, v.cfg.JWKSURL); err != nil {
		v.log.Warn("auth: JWKS refresh for an unknown key id failed", "url", v.cfg.JWKSURL, "err", err)
		return false
	}
	return true
}

// claims are gridhub's own claims, decoded strictly: a "roles" that is not an
// array of strings is a malformed token, not an empty role list.
type claims struct {
	Roles      []string `json:"roles"`
	Department string   `json:"department"`
	Scope      []string `json:"scope"`
}

// principal validates the registered claims of a verified payload and maps the
// rest onto a Principal. A session token (session) is the hub's own: its
// issuer and audience are SessionIssuer and SessionAudience.
func (v *Verifier) principal(payload []byte, session bool) (*Principal, error) {
	tok, err := jwt.Parse(payload, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return nil, fail(ErrMalformedClaims, err)
	}
	opts := []jwt.ValidateOption{
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithAcceptableSkew(v.leeway),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	switch {
	case session:
		opts = append(opts, jwt.WithIssuer(SessionIssuer), jwt.WithAudience(SessionAudience))
	default:
		if v.cfg.Issuer != "" {
			opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
		}
		if v.cfg.Audience != "" {
			opts = append(opts, jwt.WithAudience(v.cfg.Audience))
		}
	}
	if err := jwt.Validate(tok, opts...); err != nil {
		for _, c := range []struct {
			lib  error
			mine *Error
		}{
			{jwt.TokenExpiredError(), ErrTokenExpired},
			{jwt.MissingRequiredClaimError(), ErrNoExpiry},
			{jwt.TokenNotYetValidError(), ErrNotYetValid},
			{jwt.InvalidIssuedAtError(), ErrIssuedInFuture},
			{jwt.InvalidIssuerError(), ErrWrongIssuer},
			{jwt.InvalidAudienceError(), ErrWrongAudience},
		} {
			if errors.Is(err, c.lib) {
				return nil, fail(c.mine, err)
			}
		}
		return nil, fail(ErrMalformedClaims, err)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fail(ErrMalformedClaims, err)
	}
	p := &Principal{Department: c.Department, Scope: c.Scope}
	p.Subject, _ = tok.Subject()
	p.TokenID, _ = tok.JwtID()
	p.ExpiresAt, _ = tok.Expiration()
	for _, r := range c.Roles {
		p.Roles = append(p.Roles, Role(r))
	}
	if err := p.Validate(); err != nil {
		return nil, &Error{Reason: err.Error(), cause: err}
	}
	return p, nil
}
