package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Checkpoint is a signed statement that the ledger's head was entry Seq with
// hash Hash at time At. Kept outside the database (see Sink), it pins the
// whole chain up to Seq: whoever rewrites any entry up to Seq, even holding
// the chain key, changes the hash at Seq; whoever cuts off the entries after
// some seq below Seq leaves a checkpoint beyond the head. VerifyCheckpoints
// checks the ledger against them.
//
// A checkpoint is a fact about the head, not a claim of ownership: replicas
// write theirs independently, and two that name the same seq must simply
// agree.
type Checkpoint struct {
	// At is when the head was read, in UTC at microsecond precision.
	At time.Time
	// Seq and Hash are the head: the newest entry's seq and hash.
	Seq  int64
	Hash []byte
	// Signature is the Ed25519 signature (RFC 8032, pure) of SignedBytes
	// under the checkpoint key (secret.Keys.AuditCheckpointKey).
	Signature []byte
}

// checkpointDomain opens the signed encoding and names the file format, so a
// signature over a checkpoint is never a signature over anything else.
const checkpointDomain = "gridhub.audit.checkpoint.v1"

// SignedBytes is the canonical encoding the signature covers, with the same
// conventions as Entry.ComputeHash (strings and byte strings are their length
// as uint32 big-endian then their bytes; integers 8 bytes big-endian, two's
// complement):
//
//	string  "gridhub.audit.checkpoint.v1"
//	int64   At as Unix microseconds
//	int64   Seq
//	bytes   Hash
func (c *Checkpoint) SignedBytes() []byte {
	var b bytes.Buffer
	str := func(s []byte) {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		b.Write(s)
	}
	i64 := func(v int64) { b.Write(binary.BigEndian.AppendUint64(nil, uint64(v))) }
	str([]byte(checkpointDomain))
	i64(c.At.UnixMicro())
	i64(c.Seq)
	str(c.Hash)
	return b.Bytes()
}

// Sign sets Signature under key.
func (c *Checkpoint) Sign(key ed25519.PrivateKey) {
	c.Signature = ed25519.Sign(key, c.SignedBytes())
}

// SignatureValid reports whether Signature is pub's signature of the checkpoint.
func (c *Checkpoint) SignatureValid(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, c.SignedBytes(), c.Signature)
}

// checkpointJSON is a checkpoint as stored: a small JSON object an auditor can
// read and check with any Ed25519 library, given the encoding above.
type checkpointJSON struct {
	Format    string `json:"format"`    // "gridhub.audit.checkpoint.v1"
	At        string `json:"at"`        // RFC 3339, UTC, microseconds
	Seq       int64  `json:"seq"`       // the head entry
	Hash      string `json:"hash"`      // its hash, lowercase hex
	Signature string `json:"signature"` // standard base64
}

// MarshalCheckpoint is c as stored: one JSON object and a newline.
func MarshalCheckpoint(c Checkpoint) []byte {
	b, err := json.Marshal(checkpointJSON{
		Format:    checkpointDomain,
		At:        c.At.UTC().Format("2006-01-02T15:04:05.000000Z"),
		Seq:       c.Seq,
		Hash:      hex.EncodeToString(c.Hash),
		Signature: base64.StdEncoding.EncodeToString(c.Signature),
	})
	if err != nil {
		panic(err) // strings and an integer always marshal
	}
	return append(b, '\n')
}

// ParseCheckpoint reads what MarshalCheckpoint wrote, strictly: an unknown
// field, a malformed value or trailing data is an error, as a file an
// attacker edited must not be half-read. The signature is not checked here.
func ParseCheckpoint(b []byte) (Checkpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j checkpointJSON
	if err := dec.Decode(&j); err != nil {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: %w", err)
	}
	if dec.More() {
		return Checkpoint{}, errors.New("not a checkpoint: data after the object")
	}
	if j.Format != checkpointDomain {
		return Checkpoint{}, fmt.Errorf("not a checkpoint: format %q, want %q", j.Format, checkpointDomain)
	}
	at, err := time.Parse(time.RFC3339Nano, j.At)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint time: %w", err)
	}
	h, err := hex.DecodeString(j.Hash)
	if err != nil || len(h) != HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint hash %q is not %d bytes of hex", clip(j.Hash, 80), HashSize)
	}
	sig, err := base64.StdEncoding.DecodeString(j.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Checkpoint{}, fmt.Errorf("checkpoint signature is not %d bytes of base64", ed25519.SignatureSize)
	}
	return Checkpoint{At: at.UTC(), Seq: j.Seq, Hash: h, Signature: sig}, nil
}

// Sink stores checkpoints outside the database: a directory (DirSink), and,
// later, an object store with retention locks or a remote syslog. What makes
// checkpoints worth having is that whoever controls the database cannot
// remove them, so a sink should be out of the database administrators' reach.
type Sink interface {
	// PublishKey stores the public key checkpoints are signed with, for an
	// outside auditor to pin. Every replica calls it on start, so it must
	// be idempotent, and it must refuse to replace another key.
	PublishKey(ctx context.Context, pub ed25519.PublicKey) error
	// Put stores c durably before returning. Puts from this process and
	// from other replicas may run at the same time and must not overwrite
	// one another.
	Put(ctx context.Context, c Checkpoint) error
}

// DefaultCheckpointInterval is how often a Checkpointer writes when the head
// moves (GRIDHUB_AUDIT_CHECKPOINT_INTERVAL overrides it in cmd/gridhub).
const DefaultCheckpointInterval = time.Minute

// checkpointTimeout bounds one periodic checkpoint, so a stuck database or
// sink does not stall the loop forever.
const checkpointTimeout = 30 * time.Second

// Checkpointer writes a signed checkpoint of the ledger's head to a sink at
// an interval and when closed, each time the head has moved since its last
// one. Several may run on one database (one per replica): each writes its
// own, and they agree.
type Checkpointer struct {
	ledger *Ledger
	key    ed25519.PrivateKey
	sink   Sink

	// mu serialises checkpoints (the loop and Close) and guards last, the
	// head this Checkpointer last wrote (seq 0 before the first).
	mu   sync.Mutex
	last chainHead

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewCheckpointer publishes key's public half to sink, then starts writing a
// checkpoint of l's head every interval (DefaultCheckpointInterval when 0)
// when it moved. Close it on shutdown to write the last one. key is
// secret.Keys.AuditCheckpointKey.
func NewCheckpointer(ctx context.Context, l *Ledger, key ed25519.PrivateKey, sink Sink, interval time.Duration) (*Checkpointer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: checkpoint key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	if err := sink.PublishKey(ctx, key.Public().(ed25519.PublicKey)); err != nil {
		return nil, fmt.Errorf("audit: publish checkpoint key: %w", err)
	}
	c := &Checkpointer{ledger: l, key: key, sink: sink, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(interval)
	return c, nil
}

func (c *Checkpointer) run(interval time.Duration) {
	defer close(c.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
			// Logged, not fatal: the next tick tries again, and the hub
			// serves meanwhile (the entries are in the ledger either way).
			if _, _, err := c.Checkpoint(ctx); err != nil {
				slog.Error("audit checkpoint", "err", err)
			}
			cancel()
		}
	}
}

// Checkpoint writes a checkpoint of the head now, unless the head is where
// this Checkpointer's last one left it or the ledger is empty. It reports the
// checkpoint and whether it wrote one.
//
// It signs only a head whose entry checks out (its hash recomputes under the
// chain key and is the head's): a head someone without the key forged is
// refused with an error rather than vouched for.
func (c *Checkpointer) Checkpoint(ctx context.Context) (Checkpoint, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, err := c.ledger.checkedHead(ctx)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if h.seq == 0 || h.seq == c.last.seq && bytes.Equal(h.hash, c.last.hash) {
		return Checkpoint{}, false, nil
	}
	if h.seq < c.last.seq {
		// The head never moves back (the trigger refuses it): entries were
		// cut off. The checkpoint written before proves it; this one
		// records the head as it now is.
		slog.Warn("audit head moved back: entries cut off", "from", c.last.seq, "to", h.seq)
	}
	cp := Checkpoint{At: time.Now().UTC().Truncate(time.Microsecond), Seq: h.seq, Hash: h.hash}
	cp.Sign(c.key)
	if err := c.sink.Put(ctx, cp); err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit: checkpoint of entry %d: %w", h.seq, err)
	}
	c.last = h
	return cp, true, nil
}

// Close stops the interval and writes a last checkpoint if the head moved:
// close the Ledger first, so that it covers every entry this process wrote.
func (c *Checkpointer) Close(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stop) })
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("audit: close checkpointer: %w", ctx.Err())
	}
	_, _, err := c.Checkpoint(ctx)
	return err
}

// checkedHead reads the head and, in the same snapshot, the entry it names,
// and checks that entry's hash: what a checkpoint may vouch for.
func (l *Ledger) checkedHead(ctx context.Context) (chainHead, error) {
	var h chainHead
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id`).Scan(&h.seq, &h.hash); err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		if h.seq == 0 {
			return nil
		}
		var r rawRow
		err := tx.QueryRow(ctx, `SELECT `+columns+` FROM audit_log WHERE seq = $1`, h.seq).Scan(r.dest()...)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("the head names entry %d, which is missing: not signing it", h.seq)
		}
		if err != nil {
			return fmt.Errorf("read head entry %d: %w", h.seq, err)
		}
		e, null := r.entry()
		if null != "" || (e.Alg != AlgV1 && e.Alg != AlgV2) ||
			!hmac.Equal(e.ComputeHash(l.key), e.Hash) || !bytes.Equal(e.Hash, h.hash) {
			return fmt.Errorf("head entry %d does not match its hash or the head's (tampered; run verify-audit): not signing it", h.seq)
		}
		return nil
	})
	return h, err
}
