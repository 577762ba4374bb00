package encryption

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Stream format, version 1, for data too large to seal in one piece (Raft
// snapshots):
//
//	header: magic "SHLS" | version (1) | key ID (4) | salt (16)
//	records: flag (1) | length (4, big endian) | ciphertext of one chunk
//
// Each stream encrypts with its own key, derived from the data key and the
// salt with HKDF-SHA256 (the header is part of the derivation, so changing
// it fails authentication). Chunks hold up to ChunkSize bytes and are
// sealed with AES-256-GCM; the nonce is the chunk's number, so chunks
// cannot be reordered, dropped or replayed from another stream. The flag
// is 1 on the last record and 0 on all others and is authenticated with
// its record, so a stream cut at a chunk boundary is detected.
const (
	// ChunkSize is the plaintext size of a stream chunk.
	ChunkSize = 64 << 10

	streamMagic      = "SHLS"
	streamVersion    = 1
	streamSaltSize   = 16
	streamHeaderSize = len(streamMagic) + 1 + keyIDSize + streamSaltSize
	recordHeaderSize = 1 + 4
	maxRecordCT      = ChunkSize + tagSize

	flagMore  = 0
	flagFinal = 1
)

func streamAEAD(dek, header []byte) (cipher.AEAD, error) {
	if len(dek) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(dek))
	}
	salt := header[streamHeaderSize-streamSaltSize:]
	info := "shoal encryption stream v1\x00" + string(header[:streamHeaderSize-streamSaltSize])
	key, err := hkdf.Key(sha256.New, dek, salt, info, KeySize)
	if err != nil {
		return nil, fmt.Errorf("encryption: derive stream key: %w", err)
	}
	return newGCM(key)
}

func chunkNonce(counter uint64) []byte {
	var n [nonceSize]byte
	binary.BigEndian.PutUint64(n[nonceSize-8:], counter)
	return n[:]
}

// Writer encrypts a stream. Close must be called to mark its end; without
// it a Reader reports ErrStreamTruncated. A Writer is not safe for
// concurrent use.
type Writer struct {
	w       io.Writer
	aead    cipher.AEAD
	header  []byte // written before the first record, then nil
	buf     []byte // plaintext not yet sealed, len < ChunkSize
	out     []byte // scratch for one record
	counter uint64
	err     error // sticky
	closed  bool
}

var _ io.WriteCloser = (*Writer)(nil)

// NewWriter returns a Writer that encrypts to w with the data key dek.
// Nothing is written to w until the first chunk is full or Close is
// called.
func NewWriter(w io.Writer, dek []byte) (*Writer, error) {
	header := make([]byte, streamHeaderSize)
	copy(header, streamMagic)
	header[len(streamMagic)] = streamVersion
	id := keyID(dek)
	copy(header[len(streamMagic)+1:], id[:])
	randRead(header[streamHeaderSize-streamSaltSize:])
	aead, err := streamAEAD(dek, header)
	if err != nil {
		return nil, err
	}
	return &Writer{
		w:      w,
		aead:   aead,
		header: header,
		buf:    make([]byte, 0, ChunkSize),
		out:    make([]byte, 0, recordHeaderSize+maxRecordCT),
	}, nil
}

// Write encrypts p. Errors from the underlying writer are sticky.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
		if len(w.buf) == ChunkSize {
			if err := w.flush(flagMore); err != nil {
				return n - k, err
			}
		}
	}
	return n, nil
}

// Close seals the last chunk and marks the end of the stream. It does not
// close the underlying writer. Closing twice is a no-op.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	return w.flush(flagFinal)
}

func (w *Writer) flush(flag byte) error {
	if w.header != nil {
		if _, err := w.w.Write(w.header); err != nil {
			w.err = fmt.Errorf("encryption: write stream header: %w", err)
			return w.err
		}
		w.header = nil
	}
	if w.counter == ^uint64(0) {
		w.err = errors.New("encryption: stream too long")
		return w.err
	}
	rec := w.out[:recordHeaderSize]
	rec[0] = flag
	binary.BigEndian.PutUint32(rec[1:], uint32(len(w.buf)+tagSize))
	rec = w.aead.Seal(rec, chunkNonce(w.counter), w.buf, rec[:recordHeaderSize])
	w.counter++
	w.buf = w.buf[:0]
	if _, err := w.w.Write(rec); err != nil {
		w.err = fmt.Errorf("encryption: write stream chunk: %w", err)
		return w.err
	}
	return nil
}

// Reader decrypts a stream made by Writer. Each chunk is authenticated
// before any of its bytes are returned, but a stream can only be known to
// be complete when Read returns io.EOF: a caller restoring a snapshot must
// not commit what it read before that. A Reader is not safe for concurrent
// use.
type Reader struct {
	r       io.Reader
	aead    cipher.AEAD
	plain   []byte // decrypted bytes not yet returned
	ct      []byte // scratch for one record
	counter uint64
	done    bool  // final chunk read and checked
	err     error // sticky
}

var _ io.Reader = (*Reader)(nil)

// NewReader reads the stream header from r and returns a Reader that
// decrypts the rest with dek. It fails with ErrNotStream, ErrTruncated,
// ErrUnknownVersion or ErrWrongKey.
func NewReader(r io.Reader, dek []byte) (*Reader, error) {
	if len(dek) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(dek))
	}
	header := make([]byte, streamHeaderSize)
	if n, err := io.ReadFull(r, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if n >= len(streamMagic) && !bytes.Equal(header[:len(streamMagic)], []byte(streamMagic)) {
				return nil, ErrNotStream
			}
			return nil, fmt.Errorf("%w: stream header is %d bytes, want %d", ErrTruncated, n, streamHeaderSize)
		}
		return nil, fmt.Errorf("encryption: read stream header: %w", err)
	}
	if !bytes.Equal(header[:len(streamMagic)], []byte(streamMagic)) {
		return nil, ErrNotStream
	}
	if v := header[len(streamMagic)]; v != streamVersion {
		return nil, fmt.Errorf("%w: stream version %d", ErrUnknownVersion, v)
	}
	id := keyID(dek)
	if subtle.ConstantTimeCompare(header[len(streamMagic)+1:len(streamMagic)+1+keyIDSize], id[:]) != 1 {
		return nil, ErrWrongKey
	}
	aead, err := streamAEAD(dek, header)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, aead: aead, ct: make([]byte, maxRecordCT)}, nil
}

// Read decrypts into p. It returns io.EOF only after the authenticated
// final chunk; a stream that ends early fails with ErrStreamTruncated, a
// modified one with ErrCorrupt.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.readRecord()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

func (r *Reader) readRecord() error {
	var hdr [recordHeaderSize]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return r.readErr(err)
	}
	flag, size := hdr[0], binary.BigEndian.Uint32(hdr[1:])
	if flag != flagMore && flag != flagFinal {
		return fmt.Errorf("%w: bad chunk flag %d", ErrCorrupt, flag)
	}
	if size < tagSize || size > maxRecordCT {
		return fmt.Errorf("%w: bad chunk length %d", ErrCorrupt, size)
	}
	ct := r.ct[:size]
	if _, err := io.ReadFull(r.r, ct); err != nil {
		return r.readErr(err)
	}
	plain, err := r.aead.Open(ct[:0], chunkNonce(r.counter), ct, hdr[:])
	if err != nil {
		return fmt.Errorf("%w: chunk %d", ErrCorrupt, r.counter)
	}
	r.counter++
	r.plain = plain
	if flag == flagFinal {
		var b [1]byte
		n, err := io.ReadFull(r.r, b[:])
		switch {
		case n > 0:
			r.plain = nil
			return ErrTrailingData
		case errors.Is(err, io.EOF):
			r.done = true
		default:
			r.plain = nil
			return fmt.Errorf("encryption: read stream: %w", err)
		}
	}
	return nil
}

func (r *Reader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrStreamTruncated
	}
	return fmt.Errorf("encryption: read stream: %w", err)
}
