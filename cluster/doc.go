// Package cluster is a node's membership: it gossips with its peers over
// hashicorp/memberlist, advertises the node's RPC and HTTP addresses, state
// and ring fingerprint in its metadata, refuses peers whose cluster name or
// fingerprint differ, and publishes an immutable ring.Snapshot of the
// members whenever membership changes.
//
//	c, err := cluster.New(cluster.Config{
//		Name: "n1", BindAddr: "127.0.0.1:7946", RPCAddr: "127.0.0.1:7373",
//		Ring: ring.DefaultConfig(), Join: []string{"127.0.0.1:7947"},
//	})
//	if err != nil { ... }
//	c.Join(ctx)
//	for {
//		snap, changed := c.Watch()
//		_, owner := snap.Locate("pageviews", "/home")
//		...
//		<-changed
//	}
//
// With Config.EncryptKey gossip is encrypted and authenticated (AES-GCM)
// and a node without the key cannot join. The keys can be rotated without a
// restart: InstallKey on every node, then UseKey, then RemoveKey of the old
// one. Each change is written to Config.KeyringFile before it returns, and
// that file wins over EncryptKey when the node starts again.
//
// Every node needs a unique name: Join returns ErrNameTaken when a live
// member already has it, and the node should then stop.
//
// memberlist callbacks never block: they copy what they need into the
// cluster's own table and signal one goroutine, which debounces and builds
// the next ring. Leave is graceful (peers are told); Shutdown is not.
package cluster
