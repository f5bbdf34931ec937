package route

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hoard-dev/hoard/internal/errs"
	"github.com/hoard-dev/hoard/internal/op"
	"github.com/hoard-dev/hoard/internal/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestOpKindsSurviveTheWire checks the one table of op kinds: every kind
// has a distinct wire code that translates back to it, and every result
// field of its kind travels.
func TestOpKindsSurviveTheWire(t *testing.T) {
	seen := map[uint8]bool{}
	for _, k := range op.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			o := op.Op{Kind: k, Store: "s", Key: "k", Delta: 7, Values: [][]byte{[]byte("v")}, TTL: 90 * time.Second}
			w := toWire(&o)
			if w.Kind == 0 || seen[w.Kind] {
				t.Fatalf("wire code %d is zero or used twice", w.Kind)
			}
			seen[w.Kind] = true
			back, err := fromWire(&w)
			if err != nil || back.Kind != k || back.Store != o.Store || back.Key != o.Key || back.Delta != o.Delta || len(back.Values) != 1 || back.TTL != o.TTL {
				t.Fatalf("op %+v came back as %+v, %v", o, back, err)
			}
			// And through the frame's codec, with and without a TTL.
			for _, ttl := range []time.Duration{0, o.TTL} {
				o.TTL = ttl
				var req proto.ForwardRequest
				if err := req.DecodeBody((&proto.ForwardRequest{Ops: []proto.Op{toWire(&o)}}).AppendBody(nil)); err != nil || len(req.Ops) != 1 {
					t.Fatalf("frame of %+v: %+v, %v", o, req, err)
				}
				if back, err := fromWire(&req.Ops[0]); err != nil || back.Kind != k || back.TTL != ttl || back.Delta != o.Delta {
					t.Fatalf("op %+v came back from a frame as %+v, %v", o, back, err)
				}
			}
			var r op.Result
			switch k {
			case op.Count, op.Size:
				r.Count = 42
			case op.Dump:
				r.Values = [][]byte{[]byte("a"), []byte("b")}
			case op.Get, op.Fetch:
				r.Value, r.Found, r.Loaded = []byte("v"), true, true
			case op.Delete:
				r.Deleted = true
			}
			got := resultFromWire(k, resultToWire(k, r))
			if got.Count != r.Count || got.Found != r.Found || got.Loaded != r.Loaded || got.Deleted != r.Deleted ||
				string(got.Value) != string(r.Value) || !slices.EqualFunc(got.Values, r.Values, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatalf("result %+v came back as %+v", r, got)
			}
			if got := resultFromWire(k, resultToWire(k, op.Failed(errs.ErrOverflow))); !errors.Is(got.Err, errs.ErrOverflow) {
				t.Fatalf("error came back as %v", got.Err)
			}
		})
	}
	if _, err := fromWire(&proto.Op{Kind: 0}); !errors.Is(err, errs.ErrWrongKind) {
		t.Fatalf("wire code 0: %v, want ErrWrongKind", err)
	}
	if got := resultFromWire(op.Get, resultToWire(op.Get, op.Result{Loaded: true})); got.Found || !got.Loaded {
		t.Fatalf("a load that found nothing came back as %+v", got)
	}
}

// TestShuttingDownOwnerReadsAsNotOwner: an owner that is stopping did not
// apply the op, which may go to the next owner.
func TestShuttingDownOwnerReadsAsNotOwner(t *testing.T) {
	err := errorOf(proto.CodeShuttingDown, "bye")
	if !errors.Is(err, errs.ErrNotOwner) || !errors.Is(err, errs.ErrShutdown) {
		t.Fatalf("errorOf(shutting_down) = %v", err)
	}
	var te interface{ Error() string }
	if err := errorOf("no_such_code", "x"); !errors.As(err, &te) || errors.Is(err, errs.ErrNotOwner) {
		t.Fatalf("an unknown code: %v", err)
	}
}
