// Package encryption encrypts a manager's data at rest: the Raft log and
// snapshots, which hold every secret of the cluster, the root CA key
// included.
//
// # What is protected, and by what
//
// All data is encrypted with one data encryption key (DEK), 32 random
// bytes, with AES-256-GCM: an attacker who copies the Raft directory
// learns nothing and cannot change a byte undetected. The DEK itself is
// stored next to the data in a file written by SaveDEK:
//
//   - without autolock, in clear (mode 0600): this protects against copied
//     Raft files and backups, not against someone who can read the
//     manager's whole disk;
//   - with autolock, wrapped with a key-encryption key derived from the
//     cluster's unlock key (SWMKEY-1-...). The unlock key is never stored
//     on the manager's disk: an operator gives it back on restart, and until
//     then the manager cannot read its own state.
//
// # How callers use it
//
// On first start a manager makes and saves a DEK:
//
//	dek := encryption.GenerateDEK()
//	err := encryption.SaveDEK(filepath.Join(dir, "raft-dek.pem"), dek, unlockKey) // unlockKey nil without autolock
//
// On every start it loads it; ErrLocked means autolock is on and the
// operator must supply the key (ParseUnlockKey), ErrInvalidUnlockKey that
// the supplied key is wrong:
//
//	dek, err := encryption.LoadDEK(path, nil)
//	if errors.Is(err, encryption.ErrLocked) { /* ask for the unlock key */ }
//
// Then it seals each Raft entry, and streams each snapshot:
//
//	c, _ := encryption.NewCipher(dek)
//	stored := c.Seal(entry)
//	entry, err := c.Open(stored)
//
//	w, _ := encryption.NewWriter(file, dek) // write the snapshot, then w.Close()
//	r, err := encryption.NewReader(file, dek)
//
// A snapshot reader must consume r up to io.EOF before trusting what it
// read: only the authenticated final chunk proves the stream is whole.
//
// Turning autolock on, rotating the unlock key or turning autolock off is
// re-saving the same DEK with the new unlock key (or nil); the encrypted
// data is untouched. Open and NewReader tell a wrong DEK (ErrWrongKey)
// from corrupt data (ErrCorrupt), which helps while DEKs are rotated.
//
// Cipher is safe for concurrent use; Writer and Reader are not.
package encryption
