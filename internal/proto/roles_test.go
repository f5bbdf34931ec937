package proto_test

import (
	"testing"

	"github.com/hoard-dev/hoard/internal/auth"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/route"
)

// TestMethodRoles: reads need read, writes write, leave, flush, dead-letter
// replay and keyring admin; peer-only methods, and any method the table
// forgets, need a peer.
func TestMethodRoles(t *testing.T) {
	for method, want := range map[string]auth.Role{
		proto.MethodStatus: auth.RoleRead, proto.MethodMembers: auth.RoleRead, proto.MethodRing: auth.RoleRead,
		proto.MethodOwner: auth.RoleRead, proto.MethodInfo: auth.RoleRead, proto.MethodCount: auth.RoleRead,
		proto.MethodGet: auth.RoleRead, proto.MethodDump: auth.RoleRead, proto.MethodDLQList: auth.RoleRead,
		proto.MethodIncr: auth.RoleWrite, proto.MethodIncrAsync: auth.RoleWrite, proto.MethodInsert: auth.RoleWrite,
		proto.MethodSet: auth.RoleWrite, proto.MethodDelete: auth.RoleWrite,
		proto.MethodLeave: auth.RoleAdmin, proto.MethodFlush: auth.RoleAdmin, proto.MethodDLQReplay: auth.RoleAdmin,
		proto.MethodKeyring: auth.RoleAdmin,
		proto.MethodForward: auth.RolePeer, proto.MethodReplicate: auth.RolePeer,
		"made.up": auth.RolePeer,
	} {
		if got := proto.MethodRole(method); got != want {
			t.Errorf("MethodRole(%q) = %s, want %s", method, got, want)
		}
	}
	for _, m := range []string{proto.MethodIncr, proto.MethodInsert, proto.MethodSize, proto.MethodDump, proto.MethodGet,
		proto.MethodFetch, proto.MethodSet, proto.MethodDelete, proto.MethodIncrAsync, proto.MethodCount} {
		if route.IsKeyMethod(m) && proto.MethodRole(m) == auth.RolePeer {
			t.Errorf("client method %q is left to peers", m)
		}
	}
}
