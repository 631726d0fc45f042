package core

import (
	"context"
	"time"

	"haul/core/notify"
)

// The mails of transfers. Each is queued in the transaction of the event
// that causes it (finalize, a link, a first download), so a mail is never
// lost and never sent for something that did not happen.

// packageMailData is what every mail about a package shows.
func (s *Service) packageMailData(tx Tx, pk *Package) (notify.Data, *Portal, error) {
	team, err := tx.Team(pk.TeamID)
	if err != nil {
		return notify.Data{}, nil, err
	}
	d := notify.Data{TeamName: team.Name, PackageName: pk.Name, Description: pk.Description, Sender: pk.Sender,
		Expiry: pk.Expiry, Size: pk.Size, Files: pk.TotalFiles}
	var pt *Portal
	if pk.PortalID != "" {
		if pt, err = tx.Portal(pk.PortalID); err != nil && !Is(err, NotFound) {
			return d, nil, err
		}
		if pt != nil {
			d.PortalName = pt.Name
			d.Branding.Color = pt.PrimaryColor
			if pt.LogoAsset != "" {
				d.Branding.LogoURL = s.publicURL + "/v1/portals/" + pt.ID + "/logo?v=" + pt.LogoAsset
			}
		}
	}
	if pk.FormDataID != "" {
		resp, err := tx.FormResponse(pk.FormDataID)
		if err != nil && !Is(err, NotFound) {
			return d, pt, err
		}
		if resp != nil && slicesContains(resp.Definition.DeliveryFormats, "email_body") {
			d.Fields = mailFields(resp)
		}
	}
	return d, pt, nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// finalizeMails queues, at finalize: each link with an email its link
// (a portal's recipients the upload notification), the portal's cc
// recipients the notification without a link, and the portal sender a
// receipt unless the portal turned it off. Each link is mailed once.
func (s *Service) finalizeMails(tx Tx, pk *Package) error {
	if s.mailer == nil {
		return nil
	}
	base, pt, err := s.packageMailData(tx, pk)
	if err != nil {
		return err
	}
	links, err := tx.PackageLinks(pk.ID)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Email == "" || l.Disabled || !l.NotifiedAt.IsZero() {
			continue
		}
		if err := s.mailLink(tx, pk, l, base); err != nil {
			return err
		}
	}
	if pt == nil {
		return nil
	}
	for _, cc := range pk.CCRecipients {
		d := base
		d.Kind, d.To = notify.KindPortalUpload, []string{cc}
		if err := s.enqueueMail(tx, pk.TeamID, pk.ID, d); err != nil {
			return err
		}
	}
	if !pt.DisableUploadReceipt && pk.Sender != "" {
		d := base
		d.Kind, d.To = notify.KindReceipt, []string{pk.Sender}
		return s.enqueueMail(tx, pk.TeamID, pk.ID, d)
	}
	return nil
}

// mailLink queues a link's mail (once) and records that it was sent.
func (s *Service) mailLink(tx Tx, pk *Package, l *Link, base notify.Data) error {
	d := base
	d.Kind, d.To, d.LinkURL, d.HasPassword = notify.KindRecipientLink, []string{l.Email}, s.ShareURL(l), l.PasswordHash != ""
	d.Expiry = l.EffectiveExpiry(pk)
	if pk.PortalID != "" && l.Recipient {
		d.Kind = notify.KindPortalUpload
	}
	if err := s.enqueueMail(tx, pk.TeamID, pk.ID, d); err != nil {
		return err
	}
	l.NotifiedAt = s.now()
	return tx.PutLink(l)
}

// firstDownloadMail tells a team package's sender it was first
// downloaded (portal packages' senders are outsiders: not told).
func (s *Service) firstDownloadMail(tx Tx, pk *Package, by string) error {
	if !pk.FirstDownloadAt.IsZero() {
		return nil
	}
	pk.FirstDownloadAt = s.now()
	if err := tx.PutPackage(pk); err != nil {
		return err
	}
	if pk.PortalID != "" || s.mailer == nil {
		return nil
	}
	d, _, err := s.packageMailData(tx, pk)
	if err != nil {
		return err
	}
	d.Kind, d.To, d.Recipient, d.When = notify.KindDownloaded, []string{pk.Sender}, by, pk.FirstDownloadAt
	return s.enqueueMail(tx, pk.TeamID, pk.ID, d)
}

// RemindExpiring mails, once per package, every link recipient of a
// finalized package that expires within before of now (the reminder's
// window, mail.reminder_hours). It returns how many packages it reminded.
func (s *Service) RemindExpiring(ctx context.Context, now time.Time, before time.Duration) (int, error) {
	if s.mailer == nil || before <= 0 {
		return 0, nil
	}
	var due []string
	if err := s.store.View(ctx, func(tx Tx) error {
		return eachPackage(tx, func(pk *Package) error {
			if pk.State == PackageFinalized && pk.RemindedAt.IsZero() && pk.Expiry.After(now) && !pk.Expiry.After(now.Add(before)) {
				due = append(due, pk.ID)
			}
			return nil
		})
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range due {
		err := s.store.Update(ctx, func(tx Tx) error {
			pk, err := tx.Package(id)
			if err != nil || !pk.RemindedAt.IsZero() || pk.State != PackageFinalized {
				return err
			}
			base, _, err := s.packageMailData(tx, pk)
			if err != nil {
				return err
			}
			links, err := tx.PackageLinks(pk.ID)
			if err != nil {
				return err
			}
			for _, l := range links {
				if l.Email == "" || l.Disabled || (l.AccessLimit > 0 && l.Accesses >= l.AccessLimit) {
					continue
				}
				d := base
				d.Kind, d.To, d.LinkURL, d.HasPassword, d.Expiry = notify.KindExpiryReminder, []string{l.Email}, s.ShareURL(l), l.PasswordHash != "", l.EffectiveExpiry(pk)
				if !d.Expiry.After(now) {
					continue
				}
				if err := s.enqueueMail(tx, pk.TeamID, pk.ID, d); err != nil {
					return err
				}
			}
			pk.RemindedAt = now
			n++
			return tx.PutPackage(pk)
		})
		if err != nil {
			return n, err
		}
	}
	s.wakeOutbox()
	return n, nil
}
