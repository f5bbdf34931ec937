package tlsconf

import (
	"errors"
	"fmt"
	"strings"
)

// Config names a node's or a client's TLS files and checks. The zero value
// (no files) means TLS is off.
type Config struct {
	// CAFile is the PEM bundle of the certificate authorities that sign
	// the cluster's certificates: peers' and clients' certificates are
	// verified against it.
	CAFile string
	// CertFile and KeyFile are this end's certificate and private key
	// (PEM). A node needs both to serve TLS.
	CertFile string
	KeyFile  string
	// VerifyIncoming makes a server require a client certificate signed by
	// the CA (mutual TLS).
	VerifyIncoming bool
	// VerifyOutgoing makes a client verify the server's certificate against
	// the CA (and its name, see ServerName).
	VerifyOutgoing bool
	// ServerName, when set, is the name every server certificate is
	// checked against, whatever address was dialled; empty means the
	// dialled host.
	ServerName string
}

// Enabled reports whether TLS is on.
func (c Config) Enabled() bool { return c.CertFile != "" || c.CAFile != "" }

// ErrInvalid is matched (errors.Is) by every error of Validate, New, Reload
// and ClientFromFiles: a Config that cannot work or a file that cannot be
// used.
var ErrInvalid = errors.New("tlsconf: invalid TLS configuration")

// FieldError is a problem with one field of a Config, or with the file it
// names. It matches ErrInvalid, and unwraps to the cause (a missing file
// matches fs.ErrNotExist).
type FieldError struct {
	// Field is the Config field's name: "CAFile", "CertFile", "KeyFile",
	// "VerifyIncoming", "VerifyOutgoing" or "ServerName".
	Field string
	// Err says what is wrong; for a file it starts with the file's path.
	Err error
}

// Error returns "tlsconf: Field: problem".
func (e *FieldError) Error() string { return "tlsconf: " + e.Field + ": " + e.Err.Error() }

// Is reports whether target is ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate checks the combination of settings, without reading the files:
// TLS off (no CAFile nor CertFile) with nothing else set passes; otherwise
// a node needs CertFile and KeyFile (it serves TLS), VerifyIncoming and
// VerifyOutgoing need CAFile, and ServerName needs VerifyOutgoing. Each
// problem is a *FieldError; several are joined (errors.Join), in the order
// of the fields.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	switch {
	case c.KeyFile != "" && c.CertFile == "":
		add("KeyFile", "a key without a certificate (CertFile)")
	case c.CertFile != "" && c.KeyFile == "":
		add("CertFile", "a certificate without its key (KeyFile)")
	case c.CAFile != "" && c.CertFile == "":
		add("CertFile", "required with TLS on: a node serves TLS with its certificate and key (CertFile and KeyFile)")
	}
	if c.VerifyIncoming && c.CAFile == "" {
		add("VerifyIncoming", "needs the CA (CAFile) to verify client certificates against")
	}
	if c.VerifyOutgoing && c.CAFile == "" {
		add("VerifyOutgoing", "needs the CA (CAFile) to verify server certificates against")
	}
	if c.ServerName != "" && !c.VerifyOutgoing {
		add("ServerName", "is checked only with VerifyOutgoing; set it too, or leave ServerName out")
	}
	if strings.TrimSpace(c.ServerName) != c.ServerName {
		add("ServerName", "%q has leading or trailing spaces", c.ServerName)
	}
	return errors.Join(errs...)
}
