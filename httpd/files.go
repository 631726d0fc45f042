package httpd

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

func (s *Server) packageSpec(c *fiber.Ctx) error { return c.JSON(s.svc.Spec()) }

// AddFileRequest is the body of POST /v1/packages/{id}/files.
type AddFileRequest struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	Path         string `json:"path"`
	LastModified Time   `json:"last_modified"`
	Size         *int64 `json:"size"`
	ChunkSize    *int64 `json:"chunk_size"`
}

// FileResponse is MASV's file object, with haul's digest (hex BLAKE3,
// empty until the file is finalized) and state.
type FileResponse struct {
	ID            string         `json:"id"`
	Kind          string         `json:"kind"`
	Name          string         `json:"name"`
	Path          string         `json:"path"`
	Size          int64          `json:"size"`
	ChunkSize     int64          `json:"chunk_size"`
	LastModified  Time           `json:"last_modified"`
	VirusDetected bool           `json:"virus_detected"`
	State         core.FileState `json:"state"`
	Digest        string         `json:"digest"`
	CreatedAt     Time           `json:"created_at"`
	// WindowsUnsafe, when set, says why the name or path cannot be written
	// as it is on Windows (haul's addition; downloaders rename such files).
	WindowsUnsafe string `json:"windows_unsafe,omitempty"`
}

func fileView(f *core.File) FileResponse {
	out := FileResponse{ID: f.ID, Kind: f.Kind, Name: f.Name, Path: f.Path, Size: max(f.Size, 0), ChunkSize: f.ChunkSize,
		LastModified: Time(f.LastModified), State: f.State, CreatedAt: Time(f.CreatedAt),
		WindowsUnsafe: core.WindowsUnsafe(f.Path, f.Name)}
	if f.State == core.FileFinalized {
		out.Digest = f.Digest.String()
	}
	return out
}

// AddFileResponse is MASV's answer to adding a file.
type AddFileResponse struct {
	File            FileResponse   `json:"file"`
	CreateBlueprint core.Blueprint `json:"create_blueprint"`
	MaxChunksCount  int            `json:"max_chunks_count"`
	MaxChunkSize    int64          `json:"max_chunk_size"`
	MinChunkSize    int64          `json:"min_chunk_size"`
}

func (s *Server) addFile(c *fiber.Ctx) error {
	var req AddFileRequest
	if err := decode(c, "file.add", &req); err != nil {
		return err
	}
	r, err := s.svc.AddFile(c.UserContext(), packageAuth(c), param(c, "package_id"), core.AddFileRequest{
		Kind: req.Kind, Name: req.Name, Path: req.Path, LastModified: timeOf(req.LastModified), Size: req.Size, ChunkSize: req.ChunkSize})
	if err != nil {
		return err
	}
	bp := r.CreateBlueprint
	bp.Body = ""
	return created(c, AddFileResponse{File: fileView(&r.File), CreateBlueprint: bp,
		MaxChunksCount: r.Spec.MaxChunkCount, MaxChunkSize: r.Spec.MaxChunkSize, MinChunkSize: r.Spec.MinChunkSize})
}

// UploadIDRequest names a multipart upload.
type UploadIDRequest struct {
	UploadID string `json:"upload_id"`
}

// queryInt reads an optional whole-number query parameter.
func queryInt(c *fiber.Ctx, op, name string, def int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, core.Invalidf(op, name, "%s must be a whole number; got %q", name, v)
	}
	return n, nil
}

func (s *Server) partURLs(c *fiber.Ctx) error {
	const op = "file.part_urls"
	var req UploadIDRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	start, err := queryInt(c, op, "start", 0)
	if err != nil {
		return err
	}
	count, err := queryInt(c, op, "count", 1)
	if err != nil {
		return err
	}
	bps, err := s.svc.PartURLs(c.UserContext(), packageAuth(c), param(c, "package_id"), param(c, "file_id"), req.UploadID, start, count)
	if err != nil {
		return err
	}
	return c.JSON(bps)
}

func (s *Server) uploadURLs(c *fiber.Ctx) error {
	r, err := s.svc.UploadURLs(c.UserContext(), packageAuth(c), param(c, "package_id"), param(c, "file_id"), param(c, "upload_id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}

// ChunkExtra is one part of a finalize: MASV's documented form sends
// partNumber as a string, some clients as a number or as part_number.
type ChunkExtra struct {
	PartNumber  json.RawMessage `json:"partNumber"`
	PartNumber2 json.RawMessage `json:"part_number"`
	ETag        string          `json:"etag"`
	ETag2       string          `json:"ETag"`
}

// FinalizeFileRequest is the body of POST /v1/packages/{pid}/files/{fid}/finalize.
type FinalizeFileRequest struct {
	ChunkExtras []ChunkExtra `json:"chunk_extras"`
	FileExtras  struct {
		UploadID string `json:"upload_id"`
	} `json:"file_extras"`
	Size      *int64 `json:"size"`
	ChunkSize *int64 `json:"chunk_size"`
}

func partNumberOf(op string, i int, raw json.RawMessage) (int, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, core.Invalidf(op, "chunk_extras", "chunk_extras[%d].partNumber must be a whole number from 1 (as a string or a number); got %s", i, raw)
	}
	return n, nil
}

func (s *Server) finalizeFile(c *fiber.Ctx) error {
	const op = "file.finalize"
	var req FinalizeFileRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	in := core.FinalizeFileRequest{UploadID: req.FileExtras.UploadID, Size: req.Size}
	for i, ce := range req.ChunkExtras {
		raw := ce.PartNumber
		if len(raw) == 0 {
			raw = ce.PartNumber2
		}
		if len(raw) == 0 {
			return core.Invalidf(op, "chunk_extras", "chunk_extras[%d] has no partNumber", i)
		}
		n, err := partNumberOf(op, i, raw)
		if err != nil {
			return err
		}
		etag := ce.ETag
		if etag == "" {
			etag = ce.ETag2
		}
		in.Parts = append(in.Parts, core.PartRef{Number: n, ETag: etag})
	}
	f, err := s.svc.FinalizeFile(c.UserContext(), packageAuth(c), param(c, "package_id"), param(c, "file_id"), in)
	if err != nil {
		return err
	}
	return c.JSON(fileView(f))
}

func (s *Server) deleteFile(c *fiber.Ctx) error {
	if err := s.svc.DeleteFile(c.UserContext(), packageAuth(c), param(c, "package_id"), param(c, "file_id")); err != nil {
		return err
	}
	return noContent(c)
}
