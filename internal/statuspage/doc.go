// Package statuspage draws a node's status page: the members with their
// status and share of the partitions, the ring as an SVG circle of
// partitions coloured by owner, and each node's figures per store. The
// page is one HTML document with its CSS, script and drawing inline; it
// loads nothing else, and its script redraws it from the JSON view every
// [Refresh].
//
// The package does no I/O of its own: the node gives it a [Source] of
// [View]s and mounts the handlers.
//
//	src := statuspage.SourceFunc(func(ctx context.Context) statuspage.View {
//		return statuspage.View{Node: status, Members: members, Ring: statuspage.Ring{Version: v, Owners: owners}}
//	})
//	mux.Handle("GET /{$}", statuspage.Page(src))
//	mux.Handle("GET /v1/cluster", statuspage.JSON(src))
//
// [RingSVG] is the drawing alone: a pure function of the partitions' owners.
package statuspage
