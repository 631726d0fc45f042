package httpd_test

import (
	"testing"

	"haul/store/s3chunk/s3test"
)

// TestE2EOnS3: the upload, download (links, ranges, zip) and portal
// end-to-end tests, once more with the blocks in a real S3 server
// (storage.backend = "s3").
func TestE2EOnS3(t *testing.T) {
	srv := s3test.Start(t)
	onS3 := func(o *envOptions) { o.s3 = srv }
	for name, run := range map[string]func(*testing.T, *env){
		"MASVUpload": e2eMASVUpload, "MASVScript": e2eMASVScript, "DownloadResumeWithCurl": e2eDownloadResumeWithCurl,
		"ZipRangesUnzip": e2eZipRangesUnzip, "PortalWithForm": e2ePortalWithForm,
	} {
		t.Run(name, func(t *testing.T) { run(t, newEnv(t, onS3)) })
	}
}
