package transport

import (
	"encoding/json"
	"net/http"
)

// ErrorResponse is the body of every refusal on the cluster port: the CA
// endpoints, the dispatcher, Raft forwarding and joins all answer errors
// as {"message": "..."}, and their clients decode that.
type ErrorResponse struct {
	Message string `json:"message"`
}

// WriteJSON answers with status code and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers with status code and an ErrorResponse of msg.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, ErrorResponse{Message: msg})
}
