//! A pooled connection that prepares each statement once. Without it every call is a Parse,
//! a Describe and an Execute, and PostgreSQL plans the statement again each time: measured
//! with `benches/nodes.sh`, the database spent several times the smdp node's CPU per
//! download on that.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Row, Statement};

/// Statements kept per connection; past this the cache starts over (paging queries carry
/// their cursor in the text, so the set of statements is not closed).
const MAX_STATEMENTS: usize = 256;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A client and the statements prepared on it.
pub struct Conn {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

fn prepared<C: postgres::GenericClient>(
    c: &mut C,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare(sql)?;
    if cache.len() >= MAX_STATEMENTS {
        cache.clear();
    }
    cache.insert(sql.to_string(), s.clone());
    Ok(s)
}

/// The statements the store runs, on a connection or in a transaction.
pub trait Db {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error>;
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error>;

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row `sql` returns (none or several is a row-count error, not a panic).
    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error>;
}

impl Conn {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client,
            statements: HashMap::new(),
        }
    }

    pub fn transaction(&mut self) -> Result<Tx<'_>, postgres::Error> {
        Ok(Tx {
            tx: self.client.transaction()?,
            statements: &mut self.statements,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Db for Conn {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let st = prepared(&mut self.client, &mut self.statements, sql)?;
        self.client.query(&st, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let st = prepared(&mut self.client, &mut self.statements, sql)?;
        self.client.execute(&st, params)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let st = prepared(&mut self.client, &mut self.statements, sql)?;
        self.client.query_one(&st, params)
    }
}

/// A transaction on a [`Conn`], with its statement cache.
pub struct Tx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    pub fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.tx.batch_execute(sql)
    }

    pub fn copy_in(&mut self, sql: &str) -> Result<postgres::CopyInWriter<'_>, postgres::Error> {
        self.tx.copy_in(sql)
    }
}

impl Db for Tx<'_> {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let st = prepared(&mut self.tx, self.statements, sql)?;
        self.tx.query(&st, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let st = prepared(&mut self.tx, self.statements, sql)?;
        self.tx.execute(&st, params)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let st = prepared(&mut self.tx, self.statements, sql)?;
        self.tx.query_one(&st, params)
    }
}

/// r2d2's view of a connection: made from a config, checked with an empty query as it
/// leaves the pool, dropped when its socket closed.
pub struct Manager {
    pub config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn::new(self.config.connect(postgres::NoTls)?))
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.is_closed()
    }
}
