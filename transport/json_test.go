package transport_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/transport"
)

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	transport.WriteError(rec, http.StatusForbidden, `node "n1" is not a manager`)
	if rec.Code != http.StatusForbidden {
		t.Errorf("status %d, want 403", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if got, want := rec.Body.String(), `{"message":"node \"n1\" is not a manager"}`+"\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
