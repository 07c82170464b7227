// Package metadata is the manager's database (Docker's "graphdb"): images,
// their tags and repo digests, and layers with their parent chain, in one
// SQLite file (modernc.org/sqlite, pure Go).
//
// The file runs in WAL mode with foreign keys on and a busy timeout. Every
// change happens inside Update, one writer at a time; readers (View) run
// beside the writer and see a consistent snapshot. The schema carries a
// version (PRAGMA user_version) and Open migrates older files forward.
package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is an open metadata database. Its methods are safe for concurrent use.
type DB struct {
	rd   *sql.DB // readers: a small pool
	wr   *sql.DB // the one writer
	mu   sync.Mutex
	path string
}

// Tx is a transaction, read-only inside View.
type Tx struct {
	tx       *sql.Tx
	ctx      context.Context
	readOnly bool
}

// Open opens (creating when missing) the database file at path.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL is durable across process crashes in WAL mode and loses at
	// most the last commits on power loss; blobs and snapshots are fsynced
	// before the rows that name them, so a lost row only leaves garbage
	// that start-up GC removes.
	q.Add("_pragma", "synchronous(NORMAL)")
	dsn := "file:" + path + "?" + q.Encode()

	wr, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	wr.SetMaxOpenConns(1)
	wr.SetMaxIdleConns(1)
	wr.SetConnMaxLifetime(0)
	if err := migrate(wr); err != nil {
		wr.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	rd, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		wr.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	rd.SetMaxOpenConns(4)
	rd.SetMaxIdleConns(4)
	if err := os.Chmod(path, 0o600); err != nil {
		rd.Close()
		wr.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	return &DB{rd: rd, wr: wr, path: path}, nil
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.rd.Close(), db.wr.Close())
}

// Update runs fn in a read-write transaction and commits it when fn returns
// nil; an error from fn rolls everything back.
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.diskFull(run(ctx, db.wr, false, fn))
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	return run(ctx, db.rd, true, fn)
}

func run(ctx context.Context, sdb *sql.DB, readOnly bool, fn func(*Tx) error) (err error) {
	tx, err := sdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("metadata: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(&Tx{tx: tx, ctx: ctx, readOnly: readOnly}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("metadata: commit: %w", err)
	}
	return nil
}

// diskFull adds the file and ENOSPC to SQLite's "database or disk is
// full", so that a full disk reads (and tests, errors.Is) the same
// whichever store met it.
func (db *DB) diskFull(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL && !errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: write %s: %w", err, db.path, syscall.ENOSPC)
	}
	return err
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	if t.readOnly {
		return nil, errors.New("metadata: write inside a read-only transaction")
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, query, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, query, args...)
}
