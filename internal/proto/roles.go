package proto

import "github.com/hoard-dev/hoard/internal/auth"

// methodRoles is the role each method needs of its caller (auth.RoleRead,
// ...): the one table the node checks requests against. A method missing
// here is refused to all but peers.
var methodRoles = map[string]auth.Role{
	MethodStatus:    auth.RoleRead,
	MethodMembers:   auth.RoleRead,
	MethodRing:      auth.RoleRead,
	MethodOwner:     auth.RoleRead,
	MethodInfo:      auth.RoleRead,
	MethodCount:     auth.RoleRead,
	MethodSize:      auth.RoleRead,
	MethodDump:      auth.RoleRead,
	MethodGet:       auth.RoleRead, // it may load the key, as a read-through cache does
	MethodFetch:     auth.RoleRead,
	MethodDLQList:   auth.RoleRead,
	MethodIncr:      auth.RoleWrite,
	MethodIncrAsync: auth.RoleWrite,
	MethodInsert:    auth.RoleWrite,
	MethodSet:       auth.RoleWrite,
	MethodDelete:    auth.RoleWrite,
	MethodLeave:     auth.RoleAdmin,
	MethodFlush:     auth.RoleAdmin,
	MethodDLQReplay: auth.RoleAdmin,
	MethodKeyring:   auth.RoleAdmin,
	MethodForward:   auth.RolePeer,
	MethodReplicate: auth.RolePeer,
}

// MethodRole returns the role method needs; auth.RolePeer for a method
// not in the table.
func MethodRole(method string) auth.Role {
	if r, ok := methodRoles[method]; ok {
		return r
	}
	return auth.RolePeer
}
