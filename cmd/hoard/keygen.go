package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"
)

func newKeygenCmd() *cobra.Command {
	var size int
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Print a new random key for gossip encryption or a token secret",
		Long: `Print a new random key, base64-encoded, from the operating system's secure
random source: a gossip encryption key for 'encrypt' (and 'hoard keyring
install'), or a token's secret.`,
		Example: `  hoard keygen                 # 32 bytes: AES-256
  hoard keygen --bytes 16      # AES-128`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if size != 16 && size != 24 && size != 32 {
				return fmt.Errorf("--bytes %d: a gossip key has 16, 24 or 32 bytes (AES-128, -192 or -256)", size)
			}
			key := make([]byte, size)
			if _, err := rand.Read(key); err != nil {
				return fmt.Errorf("read random bytes: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(key))
			return nil
		},
	}
	cmd.Flags().IntVar(&size, "bytes", 32, "key size in bytes: 16, 24 or 32")
	return cmd
}
