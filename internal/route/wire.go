package route

import (
	"fmt"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/transport"
)

// The edge between the node's op model and the wire: the only place that
// knows how ops and their results travel in forwarded frames.

// wireKinds maps each op kind to its wire code, both ways.
var wireKinds = map[op.Kind]uint8{
	op.Incr:   proto.OpIncr,
	op.Count:  proto.OpCount,
	op.Insert: proto.OpInsert,
	op.Size:   proto.OpSize,
	op.Dump:   proto.OpDump,
	op.Get:    proto.OpGet,
	op.Fetch:  proto.OpFetch,
	op.Set:    proto.OpSet,
	op.Delete: proto.OpDelete,
	op.Adopt:  proto.OpAdopt,
}

// toWire encodes o for a forwarded frame.
func toWire(o *op.Op) proto.Op {
	return proto.Op{Kind: wireKinds[o.Kind], Store: o.Store, Key: o.Key, Delta: o.Delta, Values: o.Values}
}

// fromWire decodes an op of a forwarded frame. Errors: errs.ErrWrongKind
// for an unknown op code.
func fromWire(in *proto.Op) (*op.Op, error) {
	o := &op.Op{Store: in.Store, Key: in.Key, Delta: in.Delta, Values: in.Values}
	for k, code := range wireKinds {
		if code == in.Kind {
			o.Kind = k
			return o, nil
		}
	}
	return o, fmt.Errorf("%w: unknown op kind %d", errs.ErrWrongKind, in.Kind)
}

// wireSize estimates the bytes o takes in a forwarded frame.
func wireSize(o *op.Op) int {
	size := 16 + len(o.Store) + len(o.Key)
	for _, v := range o.Values {
		size += 5 + len(v)
	}
	return size
}

// resultToWire encodes the result of an op of kind k.
func resultToWire(k op.Kind, r op.Result) proto.OpResult {
	var out proto.OpResult
	if r.Err != nil {
		out.Code, out.Message = proto.CodeOf(r.Err), r.Err.Error()
		return out
	}
	switch k {
	case op.Count, op.Size:
		out.Count = r.Count
	case op.Dump:
		out.Values = r.Values
	case op.Get, op.Fetch:
		if r.Found {
			out.Count |= proto.FlagFound
			out.Values = [][]byte{r.Value}
		}
		if r.Loaded {
			out.Count |= proto.FlagLoaded
		}
	case op.Delete:
		if r.Deleted {
			out.Count = 1
		}
	}
	return out
}

// resultFromWire decodes the result of an op of kind k.
func resultFromWire(k op.Kind, in proto.OpResult) op.Result {
	if in.Code != "" {
		return op.Failed(errorOf(in.Code, in.Message))
	}
	var r op.Result
	switch k {
	case op.Count, op.Size:
		r.Count = in.Count
	case op.Dump:
		r.Values = in.Values
	case op.Get, op.Fetch:
		r.Found = in.Count&proto.FlagFound != 0
		r.Loaded = in.Count&proto.FlagLoaded != 0
		if r.Found && len(in.Values) > 0 {
			r.Value = in.Values[0]
		}
	case op.Delete:
		r.Deleted = in.Count != 0
	}
	return r
}

// errorOf turns a wire code back into the node's sentinel error. An owner
// that is shutting down did not apply the op, which can go to the next
// owner, like one refused by a node that is not the owner.
func errorOf(code, msg string) error {
	if code == proto.CodeShuttingDown {
		return fmt.Errorf("%w: %w: %s", errs.ErrNotOwner, errs.ErrShutdown, msg)
	}
	if err, ok := proto.ErrorOf(code, msg); ok {
		return err
	}
	return &transport.Error{Code: code, Message: msg}
}
