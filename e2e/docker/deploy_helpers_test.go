//go:build e2edocker

package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// deployProject is a Compose project started by deployUp.
type deployProject struct {
	name, file, image, root string
}

// compose runs docker-compose on the project, bounded by timeout.
func (p *deployProject) compose(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", p.name, "-f", p.file}, args...)...)
	cmd.Dir = p.root
	cmd.Env = append(os.Environ(), "HOARD_IMAGE="+p.image)
	return cmd.CombinedOutput()
}

// deployUp starts the Compose file (relative to the repository root) as
// project name, after removing what an interrupted run left, and removes
// its containers, network and volumes when the test ends, showing the
// nodes' last log lines if it failed.
func deployUp(t *testing.T, name, file, image string) *deployProject {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	p := &deployProject{name: name, file: filepath.Join(root, file), image: image, root: root}
	_, _ = p.compose(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "5")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.compose(30*time.Second, "logs", "--no-color", "--tail", "40")
			t.Logf("%s logs:\n%s", name, out)
		}
		if out, err := p.compose(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "45"); err != nil {
			t.Errorf("%s down: %v\n%s", name, err, out)
		}
	})
	if out, err := p.compose(3*time.Minute, "up", "-d"); err != nil {
		t.Fatalf("%s up: %v\n%s", name, err, out)
	}
	return p
}

// deployImage is the image to run, HOARD_IMAGE or hoard:dev; the test
// fails when it is not built.
func deployImage(t *testing.T) string {
	t.Helper()
	image := os.Getenv("HOARD_IMAGE")
	if image == "" {
		image = "hoard:dev"
	}
	if out, err := deployRun(30*time.Second, "docker", "image", "inspect", "--format", "{{.Id}}", image); err != nil {
		t.Fatalf("image %s: %v (run make image first)\n%s", image, err, out)
	}
	return image
}

// deployBuildCLI builds the hoard command for the host.
func deployBuildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hoard")
	if out, err := deployRun(3*time.Minute, "go", "build", "-o", bin, "../../cmd/hoard"); err != nil {
		t.Fatalf("build hoard: %v\n%s", err, out)
	}
	return bin
}

// deployRun runs a command, bounded by timeout, and returns its combined
// output.
func deployRun(timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
