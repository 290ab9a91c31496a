package main

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// reloadOnSignal reloads the configuration at each SIGHUP until ctx ends.
func reloadOnSignal(ctx context.Context, c *configured) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			c.reload(ctx) // a refused reload is logged; the hub goes on
		}
	}
}

// configPoll is how often `gridhub dev` looks for a changed configuration
// directory.
const configPoll = time.Second

// watchConfig reloads the configuration whenever a file under dir changes
// (added, removed, written), as `gridhub dev --config DIR` does: a change is
// acted on once the directory has stayed the same for one more poll, so that
// an editor's several writes make one reload.
func watchConfig(ctx context.Context, dir string, c *configured) {
	last := dirState(dir)
	pending := false
	t := time.NewTicker(configPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := dirState(dir)
		switch {
		case now != last:
			last, pending = now, true
		case pending:
			pending = false
			c.reload(ctx)
		}
	}
}

// dirState fingerprints the names, sizes and modification times of the
// files under dir.
func dirState(dir string) [32]byte {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			h.Write([]byte(p + "\x00error\x00"))
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			h.Write([]byte(p + "\x00" + info.ModTime().String() + "\x00" + strconv.FormatInt(info.Size(), 10)))
		}
		return nil
	})
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
