package cloudrunfake

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryImages returns an image source for [WithImageSource] that pulls
// from the OCI distribution registry h serves (such as
// artifactregistryfake.Server.OCIHandler) in process, without a network:
// references whose registry is host ("127.0.0.1:PORT") are pulled from h,
// others are not found.
func RegistryImages(host string, h http.Handler) func(ctx context.Context, image string) (v1.Image, error) {
	tr := handlerTransport{h}
	return func(ctx context.Context, image string) (v1.Image, error) {
		ref, err := name.ParseReference(image, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("parsing image %q: %w", image, err)
		}
		if ref.Context().RegistryStr() != host {
			return nil, fmt.Errorf("image %q is not in the emulated registry %s", image, host)
		}
		return remote.Image(ref, remote.WithContext(ctx), remote.WithTransport(tr))
	}
}

// handlerTransport answers HTTP requests with a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context()) // a server-side request always has a body
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// imageKind is how the data plane serves an image.
type imageKind int

const (
	kindFiles   imageKind = iota // its files, from the working directory
	kindProcess                  // its entrypoint, as a local process
)

// imageRun is one image unpacked on the local disk, with its process when
// it runs one.
type imageRun struct {
	d       *dataPlane
	image   string
	kind    imageKind
	root    string   // the unpacked file system
	argv    []string // entrypoint + cmd, as in the image
	workdir string   // in the image
	env     []string // of the image configuration

	mu    sync.Mutex          // guards procs
	procs map[string]*process // by revision: each revision is its own instance
}

// inspect reads an image's configuration and decides how it is served,
// without unpacking it: a non-nil error means the image cannot start.
func inspect(img v1.Image) (kind imageKind, argv []string, workdir string, env []string, err error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return 0, nil, "", nil, fmt.Errorf("reading the image configuration: %w", err)
	}
	argv = append(append([]string(nil), cf.Config.Entrypoint...), cf.Config.Cmd...)
	workdir, env = cf.Config.WorkingDir, cf.Config.Env
	if len(argv) == 0 {
		return kindFiles, nil, workdir, env, nil
	}
	exe := argv[0]
	if !path.IsAbs(exe) {
		exe = path.Join("/", workdir, exe)
	}
	head, found, err := readFile(img, exe, 64)
	if err != nil {
		return 0, nil, "", nil, err
	}
	if !found {
		// Nothing to run: serve the files (twostage dev --image-dir).
		return kindFiles, nil, workdir, env, nil
	}
	if why := runnable(head); why != "" {
		return 0, nil, "", nil, fmt.Errorf("the entrypoint %s %s; the data plane runs only executables for this machine (%s/%s)", exe, why, runtime.GOOS, runtime.GOARCH)
	}
	argv[0] = exe
	return kindProcess, argv, workdir, env, nil
}

// readFile returns the first n bytes of the file at p in img, and whether
// it exists.
func readFile(img v1.Image, p string, n int) ([]byte, bool, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading the image's files: %w", err)
		}
		if path.Join("/", h.Name) != p || h.Typeflag != tar.TypeReg {
			continue
		}
		buf := make([]byte, n)
		k, err := io.ReadFull(tr, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("reading %s from the image: %w", p, err)
		}
		return buf[:k], true, nil
	}
}

// runnable returns "" when head starts an executable for this machine, else
// what it is.
func runnable(head []byte) string {
	switch {
	case len(head) >= 20 && bytes.HasPrefix(head, []byte("\x7fELF")):
		var bo binary.ByteOrder = binary.LittleEndian
		if head[5] == 2 {
			bo = binary.BigEndian
		}
		machine := map[uint16]string{3: "386", 62: "amd64", 40: "arm", 183: "arm64", 243: "riscv64", 21: "ppc64", 22: "s390x"}[bo.Uint16(head[18:20])]
		if machine == "" {
			machine = "machine " + strconv.Itoa(int(bo.Uint16(head[18:20])))
		}
		if runtime.GOOS != "linux" || machine != runtime.GOARCH {
			return "is a Linux executable for " + machine
		}
		return ""
	case len(head) >= 8 && (bytes.HasPrefix(head, []byte{0xcf, 0xfa, 0xed, 0xfe})):
		cpu := map[uint32]string{0x01000007: "amd64", 0x0100000c: "arm64"}[binary.LittleEndian.Uint32(head[4:8])]
		if runtime.GOOS != "darwin" || cpu != runtime.GOARCH {
			return "is a macOS executable for " + cpu
		}
		return ""
	case bytes.HasPrefix(head, []byte("#!")):
		return "is a script (" + strings.TrimSpace(strings.SplitN(string(head), "\n", 2)[0]) + "), not an executable"
	}
	return "is not an executable"
}

// check decides whether the revision of image can start: it fails when the
// image's entrypoint cannot run here. Images no source has, and images a
// handler serves, pass (unverified: the real Cloud Run fails a revision
// whose image cannot be pulled; the emulator answers its requests 503
// instead, so tests that deploy made-up images keep working).
func (d *dataPlane) check(image string) (string, bool) {
	if d.cfg.images == nil || image == "" {
		return "", false
	}
	d.mu.Lock()
	_, handled := d.handlers[image]
	if _, digest, ok := strings.Cut(image, "@"); ok && !handled {
		_, handled = d.handlers[digest]
	}
	d.mu.Unlock()
	if handled {
		return "", false
	}
	img, err := d.cfg.images(context.Background(), image)
	if err != nil {
		return "", false
	}
	if _, _, _, _, err := inspect(img); err != nil {
		return fmt.Sprintf("Image '%s' cannot start: %v.", image, err), true
	}
	return "", false
}

// imageRun returns the unpacked image, unpacking it on first use.
func (d *dataPlane) imageRun(ctx context.Context, image string) (*imageRun, error) {
	d.mu.Lock()
	if r := d.runs[image]; r != nil {
		d.mu.Unlock()
		return r, nil
	}
	d.mu.Unlock()
	img, err := d.cfg.images(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("cloudrunfake: pulling image %q: %w", image, err)
	}
	kind, argv, workdir, env, err := inspect(img)
	if err != nil {
		return nil, fmt.Errorf("cloudrunfake: image %q cannot start: %w", image, err)
	}
	root, err := os.MkdirTemp("", "cloudrunfake-image-")
	if err != nil {
		return nil, fmt.Errorf("cloudrunfake: unpacking image %q: %w", image, err)
	}
	if err := unpack(img, root); err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("cloudrunfake: unpacking image %q: %w", image, err)
	}
	r := &imageRun{d: d, image: image, kind: kind, root: root, argv: argv, workdir: workdir, env: env, procs: map[string]*process{}}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		_ = os.RemoveAll(root)
		return nil, errors.New("cloudrunfake: the server is closed")
	}
	if prev := d.runs[image]; prev != nil { // unpacked concurrently
		_ = os.RemoveAll(root)
		return prev, nil
	}
	d.runs[image] = r
	return r, nil
}

// unpack writes the regular files and directories of img under root
// (links and special files are skipped; names leaving root are refused).
func unpack(img v1.Image, root string) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := path.Clean("/" + h.Name)
		if rel == "/" {
			continue
		}
		dst := filepath.Join(root, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o755)|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// handler serves the image for the revision of t.
func (r *imageRun) handler(t target) http.Handler {
	if r.kind == kindFiles {
		return filesHandler(filepath.Join(r.root, filepath.FromSlash(path.Clean("/"+r.workdir))))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.procs[t.revision]
	if p == nil {
		p = &process{run: r, t: t}
		r.procs[t.revision] = p
	}
	return p
}

func (r *imageRun) close() {
	r.mu.Lock()
	procs := r.procs
	r.procs = map[string]*process{}
	r.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	_ = os.RemoveAll(r.root)
}

// filesHandler serves the files under dir: GET /index.html answers the
// file (no redirect), a directory answers its index.html.
func filesHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed: the image's files are served read-only", http.StatusMethodNotAllowed)
			return
		}
		p := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+r.URL.Path)))
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			p = filepath.Join(p, "index.html")
			fi, err = os.Stat(p)
		}
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(p)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	})
}

// process is one revision's instance of an image's entrypoint, started on
// its first request and stopped after the idle timeout or on Close.
type process struct {
	run *imageRun
	t   target

	mu       sync.Mutex // guards the fields below
	cmd      *exec.Cmd
	proxy    http.Handler
	exited   chan struct{} // closed when cmd ends
	inflight int
	idle     *time.Timer
	out      tail
}

func (p *process) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := p.acquire()
	if err != nil {
		http.Error(w, "cloudrunfake: revision "+p.t.revision+": "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer p.release()
	h.ServeHTTP(w, r)
}

// acquire starts the process if it is not running and counts a request in.
func (p *process) acquire() (http.Handler, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
	if p.cmd != nil {
		select {
		case <-p.exited:
			p.cmd = nil // ended: start again
		default:
		}
	}
	if p.cmd == nil {
		if err := p.start(); err != nil {
			return nil, err
		}
	}
	p.inflight++
	return p.proxy, nil
}

func (p *process) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight--; p.inflight == 0 && p.cmd != nil {
		p.idle = time.AfterFunc(p.run.d.cfg.idle, p.stop)
	}
}

// start runs the entrypoint with Cloud Run's container contract and waits
// until it listens on PORT. The caller holds p.mu.
func (p *process) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	r := p.run
	cmd := exec.Command(filepath.Join(r.root, filepath.FromSlash(r.argv[0])), r.argv[1:]...)
	cmd.Dir = filepath.Join(r.root, filepath.FromSlash(path.Clean("/"+r.workdir)))
	// The container runtime contract: PORT, K_SERVICE, K_REVISION,
	// K_CONFIGURATION (https://cloud.google.com/run/docs/container-contract),
	// over the image's environment and the template's variables.
	env := append([]string(nil), r.env...)
	for _, e := range p.t.env {
		if e.GetValueSource() == nil { // secrets are not emulated
			env = append(env, e.GetName()+"="+e.GetValue())
		}
	}
	env = append(env, "PORT="+strconv.Itoa(port), "K_SERVICE="+p.t.service, "K_REVISION="+p.t.revision, "K_CONFIGURATION="+p.t.service)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.argv[0], err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status shows in the captured output's absence of a listener
		close(exited)
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Wait for the listener: a real process takes real time to start.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("the process %s exited before listening on PORT %d; its output:\n%s", r.argv[0], port, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("the process %s did not listen on PORT %d within 10s; its output:\n%s", r.argv[0], port, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	u := &url.URL{Scheme: "http", Host: addr}
	p.cmd, p.exited = cmd, exited
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
	}
	return nil
}

// stop ends the process, if it runs and serves no request.
func (p *process) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.inflight > 0 {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd, p.proxy = nil, nil
}

// Output returns the captured standard output and error of the process
// that serves revision (the last 64 KiB), or "" when none ran.
func (s *Server) Output(revision string) string {
	d := s.s.dp
	d.mu.Lock()
	runs := make([]*imageRun, 0, len(d.runs))
	for _, r := range d.runs {
		runs = append(runs, r)
	}
	d.mu.Unlock()
	for _, r := range runs {
		r.mu.Lock()
		p := r.procs[revision]
		r.mu.Unlock()
		if p != nil {
			return p.out.String()
		}
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last 64 KiB written to it. It is safe for concurrent use.
type tail struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - 64<<10; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
