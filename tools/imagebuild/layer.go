package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// packRootFS returns root's files as a gzipped layer tar that depends only on their names,
// contents, modes and symlink targets: entries in lexical order, owned by root (0:0, so that the
// image's non-root user cannot change its own programs), every time set to mtime, no user or
// group names, and a gzip header without name or time. Hard links are stored as copies; device
// files, sockets and pipes are refused (no image of ours has a reason to carry one).
func packRootFS(root string, mtime time.Time, strip bool) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, ModTime: mtime, Mode: int64(layerMode(fi.Mode(), strip))}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
			return tw.WriteHeader(hdr)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
			return tw.WriteHeader(hdr)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			return err
		default:
			return fmt.Errorf("%s: %v files do not belong in an image", rel, fi.Mode().Type())
		}
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layerMode is the tar mode of a file: its permission bits and sticky bit, without setuid/setgid
// and without group- or world-write (except on sticky directories such as /tmp) when strip is set:
// every file is root's, and some platforms run containers with group 0 (OpenShift).
func layerMode(m fs.FileMode, strip bool) fs.FileMode {
	mode := m.Perm()
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	if !strip {
		if m&fs.ModeSetuid != 0 {
			mode |= 0o4000
		}
		if m&fs.ModeSetgid != 0 {
			mode |= 0o2000
		}
		return mode
	}
	if !(m.IsDir() && m&fs.ModeSticky != 0) {
		mode &^= 0o022
	}
	return mode
}
