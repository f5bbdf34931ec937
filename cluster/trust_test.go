package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hoard-dev/hoard/cluster"
)

func withTrust(t cluster.Trust) func(*cluster.Config) {
	return func(c *cluster.Config) { c.Trust = t }
}

// TestJoinChecksTLSTrust: a node whose RPC TLS could not talk to the
// members' (TLS on one side only, a certificate of a CA they do not trust,
// or members' certificates of a CA it does not trust) is refused when it
// joins, with the reason; one of a CA they trust gets in.
func TestJoinChecksTLSTrust(t *testing.T) {
	ours := cluster.Trust{On: true, Issuer: "aa", CAs: []string{"aa"}}
	n1 := startNode(t, "n1", withTrust(ours))
	for _, tc := range []struct {
		name  string
		trust cluster.Trust
		want  string // "" when it gets in
	}{
		{"no TLS", cluster.Trust{}, "it runs with TLS, this node without"},
		{"a certificate of another CA", cluster.Trust{On: true, Issuer: "bb", CAs: []string{"aa", "bb"}}, "it does not trust the CA (key id bb) that signed this node's certificate"},
		{"trusts another CA only", cluster.Trust{On: true, Issuer: "aa", CAs: []string{"bb"}}, "its certificate is signed by a CA (key id aa) that this node does not trust"},
		{"the same CA during a CA rotation", cluster.Trust{On: true, Issuer: "aa", CAs: []string{"bb", "aa"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := startNode(t, "x-"+strings.ReplaceAll(tc.name, " ", "-"), withTrust(tc.trust))
			_, err := x.Join(context.Background(), n1.GossipAddr())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Join = %v, want it in", err)
			case tc.want != "" && (!errors.Is(err, cluster.ErrRefused) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Join = %v, want ErrRefused saying %q", err, tc.want)
			}
		})
	}
}
