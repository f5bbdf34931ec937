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
	return proto.Op{Kind: wireKinds[o.Kind], Store: o.Store, Key: o.Key, Delta: o.Delta, Values: o.Values, TTL: o.TTL}
}

// kindsOnWire is wireKinds the other way: by wire code, plus one (0: no
// op has the code).
var kindsOnWire = func() (t [256]op.Kind) {
	for k, code := range wireKinds {
		t[code] = k + 1
	}
	return t
}()

// fromWire decodes an op of a forwarded frame. Errors: errs.ErrWrongKind
// for an unknown op code.
func fromWire(in *proto.Op) (*op.Op, error) {
	o := &op.Op{Store: in.Store, Key: in.Key, Delta: in.Delta, Values: in.Values, TTL: in.TTL}
	if k := kindsOnWire[in.Kind]; k != 0 {
		o.Kind = k - 1
		return o, nil
	}
	return o, fmt.Errorf("%w: unknown op kind %d", errs.ErrWrongKind, in.Kind)
}

// wireSize estimates the bytes o takes in a forwarded frame.
func wireSize(o *op.Op) int {
	size := 16 + len(o.Store) + len(o.Key)
	if o.TTL != 0 {
		size += 9
	}
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
	case op.Incr, op.Count, op.Insert, op.Size:
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
	case op.Incr, op.Count, op.Insert, op.Size:
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

// keyMethods maps the RPC methods a client calls on one key to the op
// they run.
var keyMethods = map[string]op.Kind{
	proto.MethodIncr:      op.Incr,
	proto.MethodIncrAsync: op.Incr,
	proto.MethodCount:     op.Count,
	proto.MethodInsert:    op.Insert,
	proto.MethodSize:      op.Size,
	proto.MethodDump:      op.Dump,
	proto.MethodGet:       op.Get,
	proto.MethodFetch:     op.Fetch,
	proto.MethodSet:       op.Set,
	proto.MethodDelete:    op.Delete,
}

// IsKeyMethod reports whether method is a client's op on one key.
func IsKeyMethod(method string) bool {
	_, ok := keyMethods[method]
	return ok
}

// RequestOp decodes a client's request on one key into its op. Errors: a
// method that is not on one key, or a body that does not decode, wrapped
// in errs.ErrInvalidKey (a malformed request).
func RequestOp(req *transport.Request) (op.Op, error) {
	kind, ok := keyMethods[req.Method]
	if !ok {
		return op.Op{}, fmt.Errorf("%w: %q is not an op on one key", errs.ErrInvalidKey, req.Method)
	}
	o := op.Op{Kind: kind}
	var err error
	switch kind {
	case op.Incr:
		var in proto.IncrRequest
		err = req.Decode(&in)
		o.Store, o.Key, o.Delta = in.Store, in.Key, in.Delta
	case op.Insert:
		var in proto.InsertRequest
		err = req.Decode(&in)
		o.Store, o.Key, o.Values = in.Store, in.Key, in.Values
	case op.Set:
		var in proto.SetRequest
		err = req.Decode(&in)
		o.Store, o.Key, o.Values = in.Store, in.Key, [][]byte{in.Value}
	default:
		var in proto.KeyRequest
		err = req.Decode(&in)
		o.Store, o.Key = in.Store, in.Key
	}
	if err != nil {
		return o, fmt.Errorf("%w: %w", errs.ErrInvalidKey, err)
	}
	return o, nil
}

// ReplyOp answers a client's op of kind k with its result.
func ReplyOp(r transport.Reply, k op.Kind, res op.Result) {
	switch {
	case res.Err != nil:
		r.Send(nil, transport.NewError(proto.CodeOf(res.Err), res.Err))
	case k == op.Count || k == op.Size:
		r.Send(proto.CountResponse{Count: res.Count}, nil)
	case k == op.Delete:
		var deleted int64
		if res.Deleted {
			deleted = 1
		}
		r.Send(proto.CountResponse{Count: deleted}, nil)
	case k == op.Get || k == op.Fetch:
		r.Send(proto.GetResponse{Value: res.Value, Found: res.Found, Loaded: res.Loaded}, nil)
	case k == op.Dump:
		r.Send(proto.ValuesResponse{Values: res.Values}, nil)
	default:
		r.Send(nil, nil)
	}
}
