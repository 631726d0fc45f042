package meta

import "haul/core"

func (t *tx) Session(id string) (*core.Session, error) {
	return get[core.Session](t, "meta.Session", "session", key("sess", id))
}

func (t *tx) PutSession(s *core.Session) error {
	const op = "meta.PutSession"
	if err := checkID(op, "id", s.ID); err != nil {
		return err
	}
	if err := checkID(op, "user_id", s.UserID); err != nil {
		return err
	}
	old, err := prev[core.Session](t, op, key("sess", s.ID))
	if err != nil {
		return err
	}
	return t.put(op, key("sess", s.ID), s, s.ID, sessionEntries(old), sessionEntries(s))
}

func (t *tx) DeleteSession(id string) error {
	const op = "meta.DeleteSession"
	s, err := get[core.Session](t, op, "session", key("sess", id))
	if err != nil {
		return err
	}
	return t.remove(op, key("sess", id), sessionEntries(s))
}

// DeleteUserSessions removes every session of the user; a user without
// sessions is not an error.
func (t *tx) DeleteUserSessions(userID string) error {
	for _, id := range t.listed(prefix("sess_user", userID)) {
		if err := t.remove("meta.DeleteUserSessions", key("sess", id),
			[]entry{{key: key("sess_user", userID, id)}}); err != nil {
			return err
		}
	}
	return nil
}

// Sessions calls fn for every session, in id order, until fn returns
// false.
func (t *tx) Sessions(fn func(*core.Session) bool) error {
	return each(t, "meta.Sessions", prefix("sess"), fn)
}

func sessionEntries(s *core.Session) []entry {
	if s == nil {
		return nil
	}
	return []entry{{key: key("sess_user", s.UserID, s.ID)}}
}
