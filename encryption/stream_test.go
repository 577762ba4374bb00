package encryption

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func encryptStream(t testing.TB, dek, plain []byte, writeSize int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, dek)
	if err != nil {
		t.Fatal(err)
	}
	for p := plain; len(p) > 0; {
		n := min(writeSize, len(p))
		if k, err := w.Write(p[:n]); err != nil || k != n {
			t.Fatalf("Write = %d, %v", k, err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestStreamRoundTrip(t *testing.T) {
	dek := GenerateDEK()
	sizes := []int{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 17}
	for _, size := range sizes {
		for _, writeSize := range []int{1 << 20, 1000, ChunkSize} {
			plain := randomBytes(size, uint64(size))
			enc := encryptStream(t, dek, plain, writeSize)
			chunks := size/ChunkSize + 1
			if want := streamHeaderSize + size + chunks*(recordHeaderSize+tagSize); len(enc) != want {
				t.Fatalf("size %d: stream is %d bytes, want %d", size, len(enc), want)
			}
			r, err := NewReader(bytes.NewReader(enc), dek)
			if err != nil {
				t.Fatal(err)
			}
			// iotest.TestReader checks Read's contract with odd buffer
			// sizes and that the content is exactly plain.
			if err := iotest.TestReader(r, plain); err != nil {
				t.Fatalf("size %d, writes of %d: %v", size, writeSize, err)
			}
		}
	}
	// The same data encrypts differently each time (fresh salt).
	a := encryptStream(t, dek, []byte("snapshot"), 100)
	b := encryptStream(t, dek, []byte("snapshot"), 100)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of a stream are equal")
	}
}

func TestStreamOneByteReader(t *testing.T) {
	dek := GenerateDEK()
	plain := randomBytes(2*ChunkSize+5, 9)
	enc := encryptStream(t, dek, plain, 777)
	r, err := NewReader(iotest.OneByteReader(bytes.NewReader(enc)), dek)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatal("content differs")
	}
}

func readAllStream(enc, dek []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(enc), dek)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamErrors(t *testing.T) {
	dek := GenerateDEK()
	plain := randomBytes(2*ChunkSize+100, 1) // 3 records: full, full, final
	enc := encryptStream(t, dek, plain, ChunkSize)
	rec := recordHeaderSize + ChunkSize + tagSize
	firstRecord := streamHeaderSize
	secondRecord := firstRecord + rec
	finalRecord := secondRecord + rec

	mod := func(i int, x byte) []byte {
		b := bytes.Clone(enc)
		b[i] ^= x
		return b
	}
	swapped := bytes.Clone(enc)
	copy(swapped[firstRecord:secondRecord], enc[secondRecord:finalRecord])
	copy(swapped[secondRecord:finalRecord], enc[firstRecord:secondRecord])
	// A record from another stream under the same key.
	other := encryptStream(t, dek, randomBytes(2*ChunkSize+100, 2), ChunkSize)
	spliced := bytes.Clone(enc)
	copy(spliced[secondRecord:finalRecord], other[secondRecord:finalRecord])
	// The second record marked final, the rest dropped.
	earlyFinal := bytes.Clone(enc[:finalRecord])
	earlyFinal[secondRecord] = flagFinal
	// A huge length field.
	hugeLen := bytes.Clone(enc)
	binary.BigEndian.PutUint32(hugeLen[firstRecord+1:], 1<<31)

	tests := []struct {
		name string
		in   []byte
		dek  []byte
		want error
	}{
		{"valid", enc, dek, nil},
		{"empty", nil, dek, ErrTruncated},
		{"header cut", enc[:streamHeaderSize-1], dek, ErrTruncated},
		{"header only", enc[:streamHeaderSize], dek, ErrStreamTruncated},
		{"cut in a record header", enc[:firstRecord+2], dek, ErrStreamTruncated},
		{"cut in a record", enc[:firstRecord+100], dek, ErrStreamTruncated},
		{"cut after the first chunk", enc[:secondRecord], dek, ErrStreamTruncated},
		{"final chunk dropped", enc[:finalRecord], dek, ErrStreamTruncated},
		{"last byte cut", enc[:len(enc)-1], dek, ErrStreamTruncated},
		{"trailing data", append(bytes.Clone(enc), 0), dek, ErrTrailingData},
		{"trailing stream", append(bytes.Clone(enc), enc...), dek, ErrTrailingData},
		{"wrong key", enc, GenerateDEK(), ErrWrongKey},
		{"bad key size", enc, dek[:16], ErrKeySize},
		{"unknown version", mod(len(streamMagic), 0x02), dek, ErrUnknownVersion},
		{"not a stream", mustCipher(t, dek).Seal(plain[:100]), dek, ErrNotStream},
		{"short garbage", []byte("hello"), dek, ErrNotStream},
		{"salt altered", mod(streamHeaderSize-1, 1), dek, ErrCorrupt},
		{"chunk byte altered", mod(secondRecord+recordHeaderSize+10, 1), dek, ErrCorrupt},
		{"flag altered", mod(firstRecord, 1), dek, ErrCorrupt},
		{"bad flag", mod(firstRecord, 0x10), dek, ErrCorrupt},
		{"length altered", mod(firstRecord+4, 1), dek, ErrCorrupt},
		{"huge length", hugeLen, dek, ErrCorrupt},
		{"chunks swapped", swapped, dek, ErrCorrupt},
		{"chunk from another stream", spliced, dek, ErrCorrupt},
		{"early chunk marked final", earlyFinal, dek, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllStream(tt.in, tt.dek)
			if !errors.Is(err, tt.want) {
				t.Fatalf("read = %v, want %v", err, tt.want)
			}
			if err == nil && !bytes.Equal(got, plain) {
				t.Fatal("content differs")
			}
		})
	}
}

func TestStreamWriterMisuse(t *testing.T) {
	dek := GenerateDEK()
	t.Run("write after close", func(t *testing.T) {
		w, _ := NewWriter(io.Discard, dek)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrWriterClosed) {
			t.Fatalf("Write after Close = %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
	t.Run("no Close", func(t *testing.T) {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, dek)
		if _, err := w.Write(randomBytes(ChunkSize+1, 3)); err != nil {
			t.Fatal(err)
		}
		if _, err := readAllStream(buf.Bytes(), dek); !errors.Is(err, ErrStreamTruncated) {
			t.Fatalf("reading an unclosed stream = %v, want ErrStreamTruncated", err)
		}
	})
	t.Run("nothing written before the first chunk", func(t *testing.T) {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, dek)
		_, _ = w.Write([]byte("abc"))
		if buf.Len() != 0 {
			t.Fatalf("%d bytes written before a chunk was full", buf.Len())
		}
	})
	t.Run("underlying error is sticky", func(t *testing.T) {
		boom := errors.New("disk full")
		w, _ := NewWriter(&failingWriter{after: streamHeaderSize, err: boom}, dek)
		_, err := w.Write(randomBytes(ChunkSize, 4))
		if !errors.Is(err, boom) {
			t.Fatalf("Write = %v, want the writer's error", err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, boom) {
			t.Fatalf("second Write = %v", err)
		}
		if err := w.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close = %v", err)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		if _, err := NewWriter(io.Discard, dek[:31]); !errors.Is(err, ErrKeySize) {
			t.Fatalf("NewWriter = %v", err)
		}
	})
}

type failingWriter struct {
	n, after int
	err      error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.after {
		return 0, w.err
	}
	w.n += len(p)
	return len(p), nil
}

// TestStreamReaderErrorIsSticky checks that a Reader does not go on after
// an error.
func TestStreamReaderErrorIsSticky(t *testing.T) {
	dek := GenerateDEK()
	enc := encryptStream(t, dek, randomBytes(ChunkSize+10, 5), ChunkSize)
	enc[len(enc)-1] ^= 1
	r, err := NewReader(bytes.NewReader(enc), dek)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*ChunkSize)
	var first error
	for first == nil {
		_, first = r.Read(buf)
	}
	if !errors.Is(first, ErrCorrupt) {
		t.Fatalf("first error %v", first)
	}
	if _, err := r.Read(buf); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("second Read = %v, want the same error", err)
	}
}
