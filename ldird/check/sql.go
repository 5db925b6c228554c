package check

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// sqlChecker is service mysql and pgsql (check_sql via DBI): connect to
// database with login/passwd, run <request without "/">; up when it returns
// at least one row. login and request are required (ldirectord logs "Must
// specify a login and request string" and marks the real down; here New
// refuses the Spec). receive is not used, as in ldirectord. ldirectord sets
// no timeout; this check is bounded by negotiatetimeout.
type sqlChecker struct {
	b     *base
	pg    bool
	query string
}

func newSQL(b *base) (*sqlChecker, error) {
	q := b.request()
	if b.spec.Login == "" || q == "" {
		return nil, configErr("service %s needs a login and a request (the SQL query)", b.spec.Service)
	}
	return &sqlChecker{b: b, pg: b.spec.Service == "pgsql", query: q}, nil
}

func (s *sqlChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, s.b.negotiateTimeout)
	defer cancel()
	a, err := s.b.addr(real)
	if err != nil {
		return finish(start, err, "")
	}
	var rows int
	if s.pg {
		rows, err = s.pgQuery(ctx, a)
	} else {
		rows, err = s.mysqlQuery(ctx, a)
	}
	if err != nil {
		return finish(start, err, "")
	}
	if rows == 0 {
		return finish(start, errors.New("query returned no rows"), "")
	}
	return finish(start, nil, strconv.Itoa(rows)+" row(s)")
}

// mysqlQuery uses the driver's Connector directly: one connection, no pool.
func (s *sqlChecker) mysqlQuery(ctx context.Context, addr string) (int, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = s.b.spec.Login, s.b.spec.Passwd, s.b.spec.Database
	cfg.Net, cfg.Addr = "tcp", addr
	if d, ok := ctx.Deadline(); ok {
		// The driver's own I/O timeouts back up the context.
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Until(d), time.Until(d), time.Until(d)
	}
	cfg.AllowNativePasswords = true
	cfg.AllowCleartextPasswords = false
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return 0, fmt.Errorf("mysql config: %w", err)
	}
	dc, err := conn.Connect(ctx)
	if err != nil {
		return 0, fmt.Errorf("mysql connect %s: %w", addr, err)
	}
	defer dc.Close()
	q, ok := dc.(driver.QueryerContext)
	if !ok {
		return 0, errors.New("mysql driver cannot run queries")
	}
	rs, err := q.QueryContext(ctx, s.query, nil)
	if err != nil {
		return 0, fmt.Errorf("mysql query: %w", err)
	}
	defer rs.Close()
	dest := make([]driver.Value, len(rs.Columns()))
	n := 0
	for {
		if err := rs.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, fmt.Errorf("mysql rows: %w", err)
		}
		n++
	}
}

func (s *sqlChecker) pgQuery(ctx context.Context, addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, err
	}
	// A keyword/value DSN keeps pgx's sslmode=prefer fallbacks (TLS, then
	// plain) pointing at the real; PG* variables and .pgpass still apply,
	// as they do for libpq under DBD::Pg.
	dsn := "host=" + pgQuote(ap.Addr().String()) + " port=" + strconv.Itoa(int(ap.Port())) +
		" user=" + pgQuote(s.b.spec.Login) + " password=" + pgQuote(s.b.spec.Passwd)
	if s.b.spec.Database != "" {
		dsn += " dbname=" + pgQuote(s.b.spec.Database)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, fmt.Errorf("pgsql config: %w", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("pgsql connect %s: %w", addr, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rs, err := conn.Query(ctx, s.query)
	if err != nil {
		return 0, fmt.Errorf("pgsql query: %w", err)
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		n++
	}
	if err := rs.Err(); err != nil {
		return n, fmt.Errorf("pgsql query: %w", err)
	}
	return n, nil
}

// pgQuote quotes a libpq keyword value.
func pgQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
