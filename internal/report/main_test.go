package report

import (
	"os"
	"testing"

	"github.com/gridhub/gridhub/internal/devenv"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }
