package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gridhub/gridhub/internal/cache"
)

// TrustedDocuments is the mode where only registered operations run: a client
// sends a document's sha256 hash (the persisted-query extension or documentId),
// or a document whose hash is registered; any other document is refused. It
// closes the door on ad-hoc queries in production, while the hub's own pages
// and the BI tools use the registered ones.
type TrustedDocuments struct {
	docs map[string]string // sha256 hex -> document
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*TrustedDocuments)(nil)

// LoadTrustedDocuments reads a manifest: a JSON object from sha256 hex hashes to
// documents (the persisted-query manifest format). Each hash is checked.
func LoadTrustedDocuments(path string) (*TrustedDocuments, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs map[string]string
	if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, fmt.Errorf("trusted documents %s: %w", path, err)
	}
	for hash, doc := range docs {
		if documentHash(doc) != hash {
			return nil, fmt.Errorf("trusted documents %s: the document under %s does not hash to it", path, hash)
		}
	}
	return &TrustedDocuments{docs: docs}, nil
}

func documentHash(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

// ExtensionName implements graphql.HandlerExtension.
func (*TrustedDocuments) ExtensionName() string { return "TrustedDocuments" }

// Validate implements graphql.HandlerExtension.
func (*TrustedDocuments) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters replaces a registered hash by its document and
// refuses anything unregistered.
func (t *TrustedDocuments) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	hash := requestedHash(p)
	if hash == "" && p.Query != "" {
		hash = documentHash(p.Query)
	}
	doc, ok := t.docs[hash]
	if !ok {
		return &gqlerror.Error{
			Message:    "only registered operations run on this hub: send a registered document or its sha256 hash",
			Extensions: map[string]any{"code": "PERSISTED_QUERY_NOT_FOUND"},
		}
	}
	p.Query = doc
	return nil
}

// requestedHash reads the hash a client names: documentId, or the APQ extension.
func requestedHash(p *graphql.RawParams) string {
	if id, ok := p.Extensions["documentId"].(string); ok {
		return trimHashPrefix(id)
	}
	if pq, ok := p.Extensions["persistedQuery"].(map[string]any); ok {
		if h, ok := pq["sha256Hash"].(string); ok {
			return h
		}
	}
	return ""
}

func trimHashPrefix(id string) string {
	const prefix = "sha256:"
	if len(id) > len(prefix) && id[:len(prefix)] == prefix {
		return id[len(prefix):]
	}
	return id
}

// QueryCache adapts the hub's byte cache to gqlgen's automatic persisted
// queries, so that replicas sharing Redis share registered queries too.
type QueryCache struct {
	Cache cache.Cache
	TTL   time.Duration
}

// Get implements graphql.Cache.
func (q QueryCache) Get(ctx context.Context, key string) (string, bool) {
	got, err := q.Cache.GetMulti(ctx, []string{"apq:" + key})
	if err != nil {
		return "", false
	}
	v, ok := got["apq:"+key]
	return string(v), ok
}

// Add implements graphql.Cache.
func (q QueryCache) Add(ctx context.Context, key string, value string) {
	q.Cache.SetMulti(ctx, map[string][]byte{"apq:" + key: []byte(value)}, q.TTL)
}
