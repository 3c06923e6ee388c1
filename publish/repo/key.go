package repo

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// maxKeyFile bounds the bytes read of a key or passphrase file.
const maxKeyFile = 1 << 20

// Key is an OpenPGP key that signs the repositories' indexes.
type Key struct {
	entity *openpgp.Entity
	// Public is the key's public part, ASCII-armored (published as
	// repos/key.asc).
	Public []byte
	// Fingerprint is the primary key's fingerprint, in upper-case hex.
	Fingerprint string
}

// LoadKey reads a secret key from path (ASCII-armored or binary). Only
// its owner may read or write the file (mode 0600 or stricter), and the
// same for passphraseFile, which holds the passphrase of an encrypted key
// (its first line); empty means the key has none.
func LoadKey(path, passphraseFile string) (*Key, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	var ring openpgp.EntityList
	if bytes.Contains(b, []byte("-----BEGIN PGP")) {
		ring, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		ring, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not an OpenPGP key: %v", path, err)
	}
	var e *openpgp.Entity
	for _, c := range ring {
		if c.PrivateKey != nil {
			e = c
			break
		}
	}
	if e == nil {
		return nil, fmt.Errorf("%s: holds no secret key (export it with gpg --export-secret-keys --armor)", path)
	}
	sk, ok := e.SigningKey(time.Now())
	if !ok || sk.PrivateKey == nil {
		return nil, fmt.Errorf("%s: the key has no valid secret key that may sign", path)
	}
	var pass []byte
	if passphraseFile != "" {
		p, err := readPrivate(passphraseFile)
		if err != nil {
			return nil, err
		}
		pass = []byte(strings.TrimRight(strings.SplitN(string(p), "\n", 2)[0], "\r"))
	}
	if e.PrivateKey.Encrypted || sk.PrivateKey.Encrypted {
		if pass == nil {
			return nil, fmt.Errorf("%s: the key is protected by a passphrase: give passphrase_file", path)
		}
		if err := e.DecryptPrivateKeys(pass); err != nil {
			return nil, fmt.Errorf("%s: the passphrase does not unlock the key: %v", path, err)
		}
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	pub.WriteByte('\n')
	return &Key{entity: e, Public: pub.Bytes(), Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)}, nil
}

// readPrivate reads a file that only its owner may read or write.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: others may read or write it (mode %04o): only its owner may (chmod 600)", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeyFile)
	}
	return b, nil
}

func (k *Key) config() *packet.Config {
	return &packet.Config{DefaultHash: crypto.SHA512}
}

// ClearSign returns msg clear-signed (apt's InRelease).
func (k *Key) ClearSign(msg []byte) ([]byte, error) {
	sk, ok := k.entity.SigningKey(time.Now())
	if !ok {
		return nil, errors.New("the key may no longer sign")
	}
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, sk.PrivateKey, k.config())
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(msg); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// DetachSign returns an ASCII-armored detached signature of msg (apt's
// Release.gpg, yum's repomd.xml.asc).
func (k *Key) DetachSign(msg []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&out, k.entity, bytes.NewReader(msg), k.config()); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// verify checks that sig, an ASCII-armored detached signature, is this
// key's signature of msg, made while the key was valid: the test the
// indexes of the live site pass before any of their entries is reused.
func (k *Key) verify(msg, sig []byte) error {
	_, err := openpgp.CheckArmoredDetachedSignature(openpgp.EntityList{k.entity}, bytes.NewReader(msg), bytes.NewReader(sig), nil)
	return err
}
