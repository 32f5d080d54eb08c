package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// lookFirst refuses a file that is not an Assent store (or that a newer version wrote) before
// anything opens it for writing: the writer's connection sets WAL mode as it opens, which
// rewrites the file's header, so a foreign database must be judged on a read-only connection
// first. An absent or empty file, and a SQLite file without a table, are new stores.
func lookFirst(ctx context.Context, path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite open %s: %w", path, err)
	}
	if st.Size() == 0 {
		return nil
	}
	db, err := openDB(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite open: %w", describeOpenError(err))
	}
	defer conn.Close()
	appID, version, tables, err := inspect(ctx, conn)
	if err != nil {
		return err
	}
	if appID == 0 && version == 0 && tables == 0 {
		return nil
	}
	return judge(appID, version)
}
