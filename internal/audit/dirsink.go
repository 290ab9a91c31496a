package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PublicKeyFile is the name, in a checkpoint directory, of the PEM file
// (PKIX "PUBLIC KEY", as openssl reads it) holding the key checkpoints are
// signed with. An outside auditor pins it once; verify-audit does not trust
// it but derives the key from the master key.
const PublicKeyFile = "checkpoint.pub"

// The names of checkpoint files: checkpoint-<seq, 20 digits>-<time>-<random>.json,
// so that a directory listing sorts by seq and no two writers, in this process
// or in other replicas, ever pick the same name. Files being written are
// hidden (.checkpoint-*.tmp) until renamed.
const (
	checkpointPrefix = "checkpoint-"
	checkpointSuffix = ".json"
	tempPattern      = ".checkpoint-*.tmp"
)

// DirSink keeps checkpoints as files in a directory, one file per checkpoint,
// each written under a temporary name, fsync'd, and renamed into place (then
// the directory is fsync'd), so a reader never sees half a checkpoint and one
// that Put returned survives a crash. The directory can be a local disk, a
// mount of an object store or a share an auditor reads; giving the hub only
// the right to add files there (not to remove them) is what protects it.
type DirSink struct {
	dir string
}

// NewDirSink returns a sink writing to dir, created when missing.
func NewDirSink(dir string) (*DirSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("audit: checkpoint directory: %w", err)
	}
	return &DirSink{dir: dir}, nil
}

// Dir is the directory the sink writes to.
func (s *DirSink) Dir() string { return s.dir }

// PublishKey writes PublicKeyFile, unless it already holds pub; it refuses to
// replace another key, which would mean two hubs with different master keys
// share the directory, or someone swapped the key.
func (s *DirSink) PublishKey(ctx context.Context, pub ed25519.PublicKey) error {
	want, err := marshalPublicKey(pub)
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, PublicKeyFile)
	have, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(have, want):
		return nil
	case err == nil:
		return fmt.Errorf("%s holds another public key: refusing to replace it", path)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read %s: %w", path, err)
	}
	// Replicas starting together may both write it: the same bytes, renamed
	// over one another.
	return s.writeFile(ctx, PublicKeyFile, want)
}

// Put writes c as a new file.
func (s *DirSink) Put(ctx context.Context, c Checkpoint) error {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	name := fmt.Sprintf("%s%020d-%s-%s%s", checkpointPrefix, c.Seq,
		c.At.UTC().Format("20060102T150405.000000Z"), hex.EncodeToString(rnd[:]), checkpointSuffix)
	return s.writeFile(ctx, name, MarshalCheckpoint(c))
}

// writeFile writes data to name in the directory atomically and durably:
// temporary file, fsync, rename, fsync of the directory.
func (s *DirSink) writeFile(ctx context.Context, name string, data []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, tempPattern)
	if err != nil {
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Readable by auditors: a checkpoint holds no secret.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("rename %s: %w", name, err)
	}
	// The rename is durable only once the directory is.
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", s.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.dir, err)
	}
	return nil
}

// StoredCheckpoint is one checkpoint file as read back.
type StoredCheckpoint struct {
	// Name is the file's name, for messages.
	Name string
	Checkpoint
	// Err says why the file is not a checkpoint (unreadable, malformed);
	// Checkpoint is then zero.
	Err error
}

// ReadCheckpointDir reads every checkpoint file in dir, in name order (by
// seq). A file that does not parse is returned with Err set, for the caller
// to report, not skipped. Files being written (hidden temporary names) and
// other files are ignored. An error means dir could not be listed.
func ReadCheckpointDir(dir string) ([]StoredCheckpoint, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	var out []StoredCheckpoint
	for _, ent := range ents {
		name := ent.Name()
		if !strings.HasPrefix(name, checkpointPrefix) || !strings.HasSuffix(name, checkpointSuffix) {
			continue
		}
		sc := StoredCheckpoint{Name: name}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			sc.Checkpoint, err = ParseCheckpoint(b)
		}
		sc.Err = err
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b StoredCheckpoint) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ReadPublicKeyFile reads the PublicKeyFile in dir; the error wraps
// os.ErrNotExist when there is none.
func ReadPublicKeyFile(dir string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("audit: %s is not a PEM public key", PublicKeyFile)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", PublicKeyFile, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("audit: %s holds a %T, not an Ed25519 key", PublicKeyFile, k)
	}
	return pub, nil
}

func marshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
