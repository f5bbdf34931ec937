package resp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoard-dev/hoard/internal/auth"
)

const (
	readSecret  = "read-secret-0123456789"
	writeSecret = "write-secret-0123456789"
)

func testTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	ts, err := auth.NewTokens([]auth.Token{
		{Name: "reader", Secret: readSecret, Role: auth.RoleRead},
		{Name: "writer", Secret: writeSecret, Role: auth.RoleWrite},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// go-redis, speaking RESP2 (HELLO 2 AUTH) or asking for RESP3 first (HELLO
// 3 is refused, then AUTH), is let in with a token and held to its role;
// a wrong or missing token is refused.
func TestTokensGateGoRedis(t *testing.T) {
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("protocol %d", protocol), func(t *testing.T) {
			_, addr, logs := serve(t, newMemNode(), Config{Tokens: testTokens(t)})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := func(user, password string) *redis.Client {
				rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: protocol, Username: user, Password: password, MaxRetries: -1})
				t.Cleanup(func() { _ = rdb.Close() })
				return rdb
			}

			writer := client("", writeSecret)
			if n, err := writer.Incr(ctx, "pv:k").Result(); err != nil || n != 1 {
				t.Fatalf("INCR with a write token: %d, %v", n, err)
			}
			if err := writer.Set(ctx, "users:u", "v", 0).Err(); err != nil {
				t.Fatalf("SET with a write token: %v", err)
			}

			reader := client("", readSecret)
			if n, err := reader.Get(ctx, "pv:k").Int64(); err != nil || n != 1 {
				t.Fatalf("GET with a read token: %d, %v", n, err)
			}
			for _, cmd := range []redis.Cmder{reader.Incr(ctx, "pv:k"), reader.RPush(ctx, "events:e", "x"), reader.Del(ctx, "users:u")} {
				if err := cmd.Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") || !strings.Contains(err.Error(), "needs a write token") {
					t.Fatalf("%s with a read token: %v; want NOPERM", cmd.Name(), err)
				}
			}
			if n, err := writer.Get(ctx, "pv:k").Int64(); err != nil || n != 1 {
				t.Fatalf("the count after the refused INCR: %d, %v; want 1", n, err)
			}

			if n, err := client("reader", readSecret).Exists(ctx, "users:u").Result(); err != nil || n != 1 {
				t.Fatalf("EXISTS as user 'reader': %d, %v", n, err)
			}
			for _, tc := range []struct{ user, password string }{
				{"", "wrong-secret-0123456789"},
				{"writer", readSecret}, // the user names another token
				{"default", ""},        // no password: go-redis sends no AUTH
			} {
				err := client(tc.user, tc.password).Ping(ctx).Err()
				want := "WRONGPASS"
				if tc.password == "" {
					want = "NOAUTH"
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("PING as %q with %q: %v; want %s", tc.user, tc.password, err, want)
				}
			}
			failed := logs.matching("resp auth failed")
			if len(failed) == 0 || !strings.Contains(failed[0], "remote=127.0.0.1:") {
				t.Fatalf("auth failures logged as %q; want the remote address", failed)
			}
			if all := logs.all(); strings.Contains(all, readSecret) || strings.Contains(all, "wrong-secret") {
				t.Fatal("a secret was logged")
			}
		})
	}
}

// With tokens on, a connection must AUTH before anything but HELLO and
// QUIT, as Redis with requirepass; unknown commands and wrong arities are
// still reported as such, and a failed AUTH keeps the connection's token.
func TestTokensRequireAuthFirst(t *testing.T) {
	_, addr, _ := serve(t, newMemNode(), Config{Tokens: testTokens(t)})
	for _, tc := range []struct{ name, req, want string }{
		{"ping", "PING\r\nQUIT\r\n", "-NOAUTH Authentication required.\r\n+OK\r\n"},
		{"incr", "INCR pv:k\r\nQUIT\r\n", "-NOAUTH Authentication required.\r\n+OK\r\n"},
		{"unknown command", "FLUSHALL\r\nQUIT\r\n", "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n+OK\r\n"},
		{"wrong arity", "GET\r\nQUIT\r\n", "-ERR wrong number of arguments for 'get' command\r\n+OK\r\n"},
		{"hello without auth", "HELLO 2\r\nQUIT\r\n", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n+OK\r\n"},
		{"hello 3 first", "HELLO 3 AUTH default " + writeSecret + "\r\nPING\r\nQUIT\r\n", "-NOPROTO sorry, this protocol version is not supported.\r\n-NOAUTH Authentication required.\r\n+OK\r\n"},
		{"hello 2 auth", "HELLO 2 AUTH default " + readSecret + " SETNAME app\r\nCLIENT GETNAME\r\nQUIT\r\n", ""},
		{"auth then pipeline", "AUTH " + writeSecret + "\r\nINCRBY pv:k 2\r\nQUIT\r\n", "+OK\r\n:2\r\n+OK\r\n"},
		{"auth as the token's name", "AUTH writer " + writeSecret + "\r\nPING\r\nQUIT\r\n", "+OK\r\n+PONG\r\n+OK\r\n"},
		{"auth as another token's name", "AUTH reader " + writeSecret + "\r\nPING\r\nQUIT\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n+OK\r\n"},
		{"auth syntax", "AUTH a b c\r\nQUIT\r\n", "-ERR syntax error\r\n+OK\r\n"},
		{"empty secret", "*2\r\n$4\r\nAUTH\r\n$0\r\n\r\nQUIT\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n"},
		{"failed auth keeps the token", "AUTH " + readSecret + "\r\nAUTH nope-nope-nope-nope\r\nLLEN events:e\r\nINCR pv:k\r\nQUIT\r\n",
			"+OK\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n:0\r\n-NOPERM this token ('reader', role read) may not run 'incr': it needs a write token\r\n+OK\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, addr, tc.req)
			if tc.name == "hello 2 auth" {
				if !strings.HasPrefix(got, "*14\r\n") || !strings.HasSuffix(got, "$3\r\napp\r\n+OK\r\n") {
					t.Fatalf("replies %q; want HELLO's map, the name, OK", got)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("replies %q; want %q", got, tc.want)
			}
		})
	}
}

// Without tokens, AUTH answers as Redis without requirepass: a password
// alone is an error, the default user with any password is taken (so
// go-redis with a Password and RESP2 connects), and every command runs.
func TestNoTokensAuthAsRedis(t *testing.T) {
	_, addr, _ := serve(t, newMemNode(), Config{})
	got := exchange(t, addr, "AUTH secret\r\nAUTH default secret\r\nAUTH alice secret\r\nINCR pv:k\r\nQUIT\r\n")
	want := "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n" +
		"+OK\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n:1\r\n+OK\r\n"
	if got != want {
		t.Fatalf("replies %q; want %q", got, want)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, Password: "anything", MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := rdb.Incr(ctx, "pv:k").Result(); err != nil || n != 2 {
		t.Fatalf("INCR: %d, %v; want 2", n, err)
	}
}

// redis-cli's -a, and --user with --pass, send AUTH.
func TestRedisCLIAuth(t *testing.T) {
	cli := redisCLI(t)
	_, addr, _ := serve(t, newMemNode(), Config{Tokens: testTokens(t)})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"INCR", "pv:k"}, "NOAUTH Authentication required."},
		{"-a", []string{"--no-auth-warning", "-a", writeSecret, "INCR", "pv:k"}, "1"},
		{"--user --pass", []string{"--no-auth-warning", "--user", "reader", "--pass", readSecret, "GET", "pv:k"}, "1"},
		{"read token writing", []string{"--no-auth-warning", "-a", readSecret, "INCR", "pv:k"}, "NOPERM this token ('reader', role read) may not run 'incr': it needs a write token"},
		{"wrong token", []string{"--no-auth-warning", "-a", "nope", "PING"}, "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := runCLI(t, cli, addr, tc.args...); !strings.Contains(out, tc.want) {
				t.Fatalf("redis-cli %q: %q; want %q", tc.args, out, tc.want)
			}
		})
	}
}

// Thousands of failed AUTHs write about one log line a second, the next
// one counting those suppressed.
func TestFailedAuthLogIsRateLimited(t *testing.T) {
	s, addr, logs := serve(t, newMemNode(), Config{Tokens: testTokens(t)})
	req := strings.Repeat("AUTH wrong-secret-0123456789\r\n", 2000) + "QUIT\r\n"
	start := time.Now()
	got := exchange(t, addr, req)
	if n := strings.Count(got, "-WRONGPASS"); n != 2000 {
		t.Fatalf("%d WRONGPASS replies; want 2000", n)
	}
	lines := logs.matching("resp auth failed")
	if max := 1 + int(time.Since(start)/time.Second); len(lines) == 0 || len(lines) > max {
		t.Fatalf("%d lines logged for 2000 failures in %s; want 1 to %d", len(lines), time.Since(start), max)
	}
	if n := s.Stats().AuthFailures; n != 2000 {
		t.Fatalf("%d auth failures counted; want 2000", n)
	}
}

// Every command needs the role its kind says: writes a write token, reads
// and INFO a read token, the connection commands any token; only AUTH,
// HELLO and QUIT run before AUTH.
func TestEveryCommandNeedsItsRole(t *testing.T) {
	for name, cmd := range commands {
		want := auth.RoleNone
		switch {
		case slices.Contains(cmd.flags, "write"):
			want = auth.RoleWrite
		case slices.Contains(cmd.flags, "readonly"), name == "info":
			want = auth.RoleRead
		}
		if cmd.need != want {
			t.Errorf("%s needs %s; want %s", name, cmd.need, want)
		}
		if noAuth := name == "auth" || name == "hello" || name == "quit"; cmd.noAuth != noAuth {
			t.Errorf("%s runs before AUTH: %v; want %v", name, cmd.noAuth, noAuth)
		}
	}
}
