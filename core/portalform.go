package core

import (
	"context"
	"errors"
	"time"

	"haul/core/form"
)

// Form is a portal's metadata form (MASV §7): senders answer it before
// they create a package, and the answers are delivered with the package.
type Form struct {
	ID       string `json:"id"`
	PortalID string `json:"portal_id"`
	TeamID   string `json:"team_id"`
	form.Definition
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FormResponse is a sender's answers ("form data"). It keeps the form's
// definition as it was answered, so a later change to the form neither
// invalidates nor reinterprets it. A response serves one package.
type FormResponse struct {
	ID         string          `json:"id"`
	FormID     string          `json:"form_id"`
	PortalID   string          `json:"portal_id"`
	TeamID     string          `json:"team_id"`
	Definition form.Definition `json:"definition"`
	Values     map[string]any  `json:"values"`
	PackageID  string          `json:"package_id,omitempty"` // set once used
	ClientIP   string          `json:"client_ip"`
	CreatedAt  time.Time       `json:"created_at"`
}

// FormTx stores forms and their responses.
type FormTx interface {
	Form(id string) (*Form, error)
	PutForm(f *Form) error
	DeleteForm(id string) error
	FormResponse(id string) (*FormResponse, error)
	PutFormResponse(r *FormResponse) error
}

// formError turns the form package's field errors into validation errors
// naming the field.
func formError(op string, err error) error {
	var fe *form.FieldError
	if errors.As(err, &fe) {
		return &Error{Op: op, Kind: Invalid, Field: fe.Field, Msg: fe.Msg}
	}
	return Wrap(op, err)
}

// PutPortalForm creates (create true) or replaces a portal's form (owner,
// admins). A new form without fields gets MASV's three default fields.
func (s *Service) PutPortalForm(ctx context.Context, p *Principal, portalID string, def form.Definition, create bool) (*Form, error) {
	op := "form.update"
	if create {
		op = "form.create"
	}
	if err := form.Normalize(&def); err != nil {
		return nil, formError(op, err)
	}
	var out Form
	err := s.store.Update(ctx, func(tx Tx) error {
		pt, _, err := s.portalFor(tx, op, p, portalID)
		if err != nil {
			return err
		}
		now := s.now()
		f := &Form{ID: NewID(), PortalID: pt.ID, TeamID: pt.TeamID, Definition: def, CreatedAt: now, UpdatedAt: now}
		switch {
		case create && pt.FormID != "":
			return &Error{Op: op, Kind: Exists, Msg: "this portal has a form already: change it with PUT /v1/portals/{portal_id}/form"}
		case !create && pt.FormID == "":
			return E(op, NotFound, "this portal has no form: create one with POST /v1/portals/{portal_id}/form")
		case !create:
			old, err := tx.Form(pt.FormID)
			if err != nil {
				return err
			}
			f.ID, f.CreatedAt = old.ID, old.CreatedAt
		}
		if err := tx.PutForm(f); err != nil {
			return err
		}
		if pt.FormID != f.ID {
			pt.FormID, pt.UpdatedAt = f.ID, now
			if err := tx.PutPortal(pt); err != nil {
				return err
			}
		}
		out = *f
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// PortalForm returns a portal's form (owner, admins).
func (s *Service) PortalForm(ctx context.Context, p *Principal, portalID string) (*Form, error) {
	const op = "form.get"
	var out *Form
	err := s.store.View(ctx, func(tx Tx) error {
		pt, _, err := s.portalFor(tx, op, p, portalID)
		if err != nil {
			return err
		}
		if pt.FormID == "" {
			return E(op, NotFound, "this portal has no form")
		}
		out, err = tx.Form(pt.FormID)
		return err
	})
	return out, Wrap(op, err)
}

// DeletePortalForm removes a portal's form (owner, admins): packages no
// longer need a response. Responses already given stay with their
// packages.
func (s *Service) DeletePortalForm(ctx context.Context, p *Principal, portalID string) error {
	const op = "form.delete"
	err := s.store.Update(ctx, func(tx Tx) error {
		pt, _, err := s.portalFor(tx, op, p, portalID)
		if err != nil {
			return err
		}
		if pt.FormID == "" {
			return E(op, NotFound, "this portal has no form")
		}
		if err := tx.DeleteForm(pt.FormID); err != nil {
			return err
		}
		pt.FormID, pt.UpdatedAt = "", s.now()
		return tx.PutPortal(pt)
	})
	return Wrap(op, err)
}

// SubmitFormResponse validates a sender's answers to a portal's form (no
// authentication: the access code is checked when the package is
// created) and stores them; the id goes into the package as form_data_id.
func (s *Service) SubmitFormResponse(ctx context.Context, portalID string, values map[string]any, clientIP string) (string, error) {
	const op = "form.respond"
	if ok, wait := s.formResponses.Allow(portalID+"|"+ClientKey(clientIP), s.now()); !ok {
		secs := int(wait/time.Second) + 1
		return "", &Error{Op: op, Kind: RateLimited, RetryAfter: secs, Msg: "too many form responses from your address; wait and try again"}
	}
	var id string
	err := s.store.Update(ctx, func(tx Tx) error {
		pt, err := tx.Portal(portalID)
		if Is(err, NotFound) {
			return E(op, NotFound, "portal %s not found", portalID)
		}
		if err != nil {
			return err
		}
		if err := s.portalAccepts(op, pt); err != nil {
			return err
		}
		if pt.FormID == "" {
			return E(op, NotFound, "this portal has no form: create the package without form_data_id")
		}
		f, err := tx.Form(pt.FormID)
		if err != nil {
			return err
		}
		vals, err := f.Definition.Validate(values)
		if err != nil {
			return formError(op, err)
		}
		r := &FormResponse{ID: NewID(), FormID: f.ID, PortalID: pt.ID, TeamID: pt.TeamID, Definition: f.Definition, Values: vals,
			ClientIP: clientIP, CreatedAt: s.now()}
		id = r.ID
		return tx.PutFormResponse(r)
	})
	return id, Wrap(op, err)
}

// formResponsesBurst and formResponsesPerMinute bound the responses one
// address submits to one portal.
const (
	formResponsesBurst     = 30
	formResponsesPerMinute = 10
)
