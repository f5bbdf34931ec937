package resp

import "errors"

// The replies of a refused AUTH, as Redis words them.
const (
	wrongPass = "WRONGPASS invalid username-password pair or user is disabled."
	noPass    = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
)

// planAuth takes AUTH password and AUTH username password.
func planAuth(c *conn, _ *call, args [][]byte) error {
	switch len(args) {
	case 2:
		return c.authenticate(nil, args[1], false)
	case 3:
		return c.authenticate(args[1], args[2], true)
	}
	return replyErr("ERR syntax error")
}

// errOtherUser is an AUTH whose username is neither "default" nor the
// name of the token whose secret it gave.
var errOtherUser = errors.New("the username is neither \"default\" nor the token's name")

// authenticate checks an AUTH's secret against the server's tokens and, when
// it matches, gives the connection the token's role. The username, when
// given (withUser), must be "default" or the token's name: redis-cli -a
// and go-redis's Password send none or "default", and a client may name its
// token. A refusal leaves the connection as it was, and is logged (the
// remote address, never the secret or the username, which may be a
// mistyped secret).
//
// Without tokens, AUTH answers as Redis does without requirepass: a
// password alone is an error, and "default" with any password is taken.
func (c *conn) authenticate(user, secret []byte, withUser bool) error {
	ts := c.s.cfg.Tokens
	if !ts.Enabled() {
		switch {
		case !withUser:
			return replyErr(noPass)
		case string(user) != "default":
			return replyErr(wrongPass)
		}
		return nil
	}
	tok, err := ts.Check(string(secret))
	if err == nil && withUser && string(user) != "default" && string(user) != tok.Name {
		err = errOtherUser
	}
	if err != nil {
		c.s.authFailures.Add(1)
		c.s.log.Warn("resp auth failed", "remote", c.remote(), "reason", err)
		return replyErr(wrongPass)
	}
	c.role, c.token = tok.Role, tok.Name
	return nil
}
