package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxFileBytes bounds a PEM file: CA bundles of a whole system store are
// under 1MiB.
const maxFileBytes = 4 << 20

// readFile reads a regular file of at most maxFileBytes. Errors start with
// the path, quoted.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, pathErr(path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%q: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, pathErr(path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%q: larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}

// pathErr renders err, from opening or reading path, as `"path": cause`,
// keeping the cause for errors.Is (fs.ErrNotExist, fs.ErrPermission).
func pathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%q: %w", path, err)
}

// loadCA reads a PEM bundle of certificates into a pool.
func loadCA(path string) (*x509.CertPool, []*x509.Certificate, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, nil, &FieldError{Field: "CAFile", Err: err}
	}
	certs, err := parseCerts(path, b)
	if err != nil {
		return nil, nil, &FieldError{Field: "CAFile", Err: err}
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, certs, nil
}

// parseCerts parses the CERTIFICATE blocks of a PEM file; other blocks are
// skipped, and there must be at least one certificate.
func parseCerts(path string, b []byte) ([]*x509.Certificate, error) {
	var (
		certs []*x509.Certificate
		other []string
	)
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			other = append(other, blk.Type)
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%q: certificate %d: %w", path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if len(other) > 0 {
			return nil, fmt.Errorf("%q: no PEM certificate found, only %q blocks", path, other)
		}
		return nil, fmt.Errorf("%q: no PEM certificate found (not a PEM file?)", path)
	}
	return certs, nil
}

// loadKeyPair reads a certificate chain (the leaf first) and its private
// key, and checks that they match.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	b, err := readFile(certFile)
	if err != nil {
		return nil, &FieldError{Field: "CertFile", Err: err}
	}
	certs, err := parseCerts(certFile, b)
	if err != nil {
		return nil, &FieldError{Field: "CertFile", Err: err}
	}
	b, err = readFile(keyFile)
	if err != nil {
		return nil, &FieldError{Field: "KeyFile", Err: err}
	}
	key, err := parseKey(keyFile, b)
	if err != nil {
		return nil, &FieldError{Field: "KeyFile", Err: err}
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, fieldErr("KeyFile", "%q: the key does not match the certificate in %q", keyFile, certFile)
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, cert := range certs {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c, nil
}

// parseKey parses the first private key block of a PEM file: PKCS #8,
// SEC 1 (EC) or PKCS #1 (RSA), unencrypted.
func parseKey(path string, b []byte) (crypto.Signer, error) {
	var types []string
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		var (
			key any
			err error
		)
		switch blk.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%q: the private key is encrypted; give it unencrypted (protect the file instead)", path)
		default:
			types = append(types, blk.Type)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %s: %w", path, blk.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("%q: unsupported private key type %T", path, key)
	}
	if len(types) > 0 {
		return nil, fmt.Errorf("%q: no PEM private key found, only %q blocks", path, types)
	}
	return nil, fmt.Errorf("%q: no PEM private key found (not a PEM file?)", path)
}
