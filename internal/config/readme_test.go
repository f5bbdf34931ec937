package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeSnippet is one ```hcl block of the README.
type readmeSnippet struct {
	line int // README line of the snippet's first line
	text string
}

// hclSnippets returns the ```hcl fenced blocks of a Markdown document.
func hclSnippets(md []byte) []readmeSnippet {
	var (
		out  []readmeSnippet
		cur  *readmeSnippet
		line int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		line++
		text := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(text), "```")
		switch {
		case cur == nil && fence && strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), "```")) == "hcl":
			cur = &readmeSnippet{line: line + 1}
		case cur != nil && fence:
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += text + "\n"
		}
	}
	return out
}

var (
	topLevelName = regexp.MustCompile(`(?m)^name\s*=`)
	sinkBlock    = regexp.MustCompile(`(?m)^\s*sink\s+"`)
)

// TestREADMESnippets parses every HCL snippet of the README with the real
// parser. A fragment (a store block alone) gets a node name and, when it
// declares no sink, a stdout sink named "out" appended; the snippet is
// preceded by blank lines so that positions in errors are the README's.
// Snippets run in a directory holding the files they may name:
// tls/ca.pem, tls/node.pem and tls/node-key.pem (see writeTLSFiles) and
// ops.token, a token's secret.
func TestREADMESnippets(t *testing.T) {
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTLSFilesIn(t, filepath.Join(dir, "tls"))
	writeFile(t, filepath.Join(dir, "ops.token"), "ops-secret-0123456789\n")
	t.Chdir(dir)
	snippets := hclSnippets(md)
	if len(snippets) < 2 {
		t.Fatalf("found %d hcl snippets in README.md, want at least 2", len(snippets))
	}
	for _, s := range snippets {
		t.Run("line "+strconv.Itoa(s.line), func(t *testing.T) {
			src := strings.Repeat("\n", s.line-1) + s.text
			if !topLevelName.MatchString(s.text) {
				src += "name = \"readme\"\n"
			}
			if !sinkBlock.MatchString(s.text) {
				src += "sink \"stdout\" \"out\" {}\n"
			}
			if _, err := Parse("README.md", []byte(src)); err != nil {
				t.Errorf("the hcl snippet at README.md line %d does not parse:\n%v", s.line, err)
			}
		})
	}
}

func TestHCLSnippets(t *testing.T) {
	md := "text\n```hcl\na = 1\n```\n```sh\nls\n```\n  ```hcl\nb = 2\nc = 3\n  ```\n"
	got := hclSnippets([]byte(md))
	want := []readmeSnippet{{line: 3, text: "a = 1\n"}, {line: 9, text: "b = 2\nc = 3\n"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("snippet %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
