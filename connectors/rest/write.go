package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gridhub/gridhub/connectors"
)

var (
	_ connectors.Writer        = (*Source)(nil)
	_ connectors.ReceiptWriter = (*Source)(nil)
)

// IdempotencyHeader carries a delivery's idempotency key.
const IdempotencyHeader = "Idempotency-Key"

// Write POSTs the delivery to the department's inbox endpoint as one JSON
// object in the department's conventions (its field names, dotted targets as
// nested objects, its date format), with the idempotency key in the
// Idempotency-Key header. A 2xx answer, or 409 (the key was applied already),
// is success; 408, 429 and 5xx are retried like reads, always with the same
// key and body; any other 4xx is permanent. A 2xx whose body is not JSON is
// permanent too: something other than the department answered, and whether
// the delivery landed is unknown until an operator looks (a replay with the
// same key is safe).
func (s *Source) Write(ctx context.Context, del connectors.Delivery) error {
	_, err := s.WriteReceipt(ctx, del)
	return err
}

// WriteReceipt is Write that also returns the department's answer, decoded
// from JSON (empty when the answer has no body, or is 409: applied already
// under this key with another body, so no receipt of this one exists).
func (s *Source) WriteReceipt(ctx context.Context, del connectors.Delivery) (connectors.Receipt, error) {
	vals, err := s.dept.EncodeDelivery(del)
	if err != nil {
		return nil, fmt.Errorf("rest %s: deliver: %w", s.dept.Code, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rest %s: deliver: %w", s.dept.Code, err)
	}
	body := map[string]any{}
	for _, v := range vals {
		if err := setPath(body, v.Target, v.Value); err != nil {
			return nil, fmt.Errorf("rest %s: deliver: %w", s.dept.Code, connectors.Permanent(err))
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("rest %s: deliver: %w", s.dept.Code, connectors.Permanent(err))
	}
	path := s.dept.WriteBack.Path
	op := "POST " + path
	u := s.endpoint(path).String()
	answer, err := s.retry(ctx, func() (any, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
		if err != nil {
			return nil, connectors.Permanentf("%s: %w", op, err)
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set(IdempotencyHeader, del.IdempotencyKey)
		rep, err := s.exchange(ctx, req, op)
		if err != nil {
			return nil, err
		}
		switch {
		case rep.status >= 200 && rep.status < 300:
			receipt := connectors.Receipt{}
			if len(bytes.TrimSpace(rep.body)) > 0 && json.Unmarshal(rep.body, &receipt) != nil {
				if !json.Valid(rep.body) {
					return nil, connectors.Permanentf("%s: HTTP %d with an answer that is not JSON; whether the delivery landed is unknown", op, rep.status)
				}
				receipt = connectors.Receipt{} // JSON, but not an object
			}
			return receipt, nil
		case rep.status == http.StatusConflict:
			return connectors.Receipt{}, nil // applied already, under this key
		case rep.status == http.StatusRequestTimeout:
			return nil, fmt.Errorf("%s: HTTP %d", op, rep.status)
		}
		return nil, s.statusError(rep, op)
	})
	if err != nil {
		return nil, fmt.Errorf("rest %s: deliver: %w", s.dept.Code, err)
	}
	receipt, _ := answer.(connectors.Receipt)
	return receipt, nil
}

// setPath sets a dotted path in a JSON object, making the objects on the way.
func setPath(obj map[string]any, path string, v any) error {
	parts := strings.Split(path, ".")
	for i, p := range parts[:len(parts)-1] {
		next, ok := obj[p]
		if !ok {
			m := map[string]any{}
			obj[p] = m
			obj = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("writeback target %s: %s holds a value, not an object", path, strings.Join(parts[:i+1], "."))
		}
		obj = m
	}
	last := parts[len(parts)-1]
	if _, isObj := obj[last].(map[string]any); isObj {
		return fmt.Errorf("writeback target %s holds an object", path)
	}
	obj[last] = v
	return nil
}
