//! The workers of each scenario: async closures over their own connection.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{anyhow, bail, Result};
use sea_orm::sqlx::postgres::PgPool;

use crate::http::{self, Conn};
use crate::pg::{phone_of, Seeded};
use crate::raw::{self, Op, Outcome};

/// The server worker `w` connects to: with several server processes (`--processes`),
/// workers are spread over them round robin, as a load balancer would.
pub fn target(addrs: &[SocketAddr], w: usize) -> SocketAddr {
    addrs[w % addrs.len()]
}

/// Workers that each cycle through `reqs` with a stride of the worker count, starting at
/// their own index, so n workers together walk every request in turn.
pub fn cycling(
    addrs: &[SocketAddr],
    reqs: &Rc<Vec<Vec<u8>>>,
    n: usize,
) -> Vec<impl AsyncFnMut() -> Result<()> + 'static> {
    (0..n)
        .map(|w| {
            let reqs = reqs.clone();
            let mut conn = Conn::new(target(addrs, w));
            let mut i = w % reqs.len().max(1);
            async move || {
                let r = conn.request(&reqs[i]).await?;
                i = (i + n) % reqs.len();
                r.ensure_ok()
            }
        })
        .collect()
}

/// Workers for the memory pass: operation `i` sends `reqs[i]`.
pub fn each(
    addrs: &[SocketAddr],
    reqs: &Rc<Vec<Vec<u8>>>,
    n: usize,
) -> Vec<impl AsyncFnMut(usize) -> Result<()> + 'static> {
    (0..n)
        .map(|w| {
            let reqs = reqs.clone();
            let mut conn = Conn::new(target(addrs, w));
            async move |i: usize| conn.request(&reqs[i]).await?.ensure_ok()
        })
        .collect()
}

pub fn followlist(addr: SocketAddr, token: &str, page: u64) -> Vec<u8> {
    http::post_form(
        addr,
        "/relation/followlist",
        Some(token),
        &format!("type=follow&page={page}&size=20"),
    )
}

/// `relation/followlist` page 1 for every user with a session, in id order.
pub fn read_requests(addr: SocketAddr, seeded: &Seeded, users: u64) -> Vec<Vec<u8>> {
    (1..=users as i64)
        .filter_map(|u| Some(followlist(addr, seeded.token(u)?, 1)))
        .collect()
}

/// `accessuser/getimtoken` for every user with a session: plain, or for an action on
/// two other users.
pub fn imtoken_requests(addr: SocketAddr, seeded: &Seeded, users: u64, act: bool) -> Vec<Vec<u8>> {
    (1..=users as i64)
        .filter_map(|u| {
            let token = seeded.token(u)?;
            let body = if act {
                let m1 = u % users as i64 + 1;
                let m2 = (u + 1) % users as i64 + 1;
                format!("act=conv.create&members={m1},{m2}")
            } else {
                String::new()
            };
            Some(http::post_form(
                addr,
                "/accessuser/getimtoken",
                Some(token),
                &body,
            ))
        })
        .collect()
}

/// The write mix: every operation changes state, and a pair returns to "no relation"
/// after six: A follows B, A unfollows B, A follows B, B follows A, A blocks B (which
/// removes both follows), A unblocks B.
pub const CYCLE: [(bool, Op); 6] = [
    (true, Op::Follow),
    (true, Op::Unfollow),
    (true, Op::Follow),
    (false, Op::Follow),
    (true, Op::Block),
    (true, Op::Unblock),
];

/// Pairs of dedicated users per worker; a worker walks its pairs round robin, each
/// through `CYCLE`. Workers never share a user, so there is no lock contention between
/// them; the cursors persist across runs, so the server and the raw baseline continue
/// the same walk and every operation stays a real change.
pub struct WriteMix {
    pub first_user: i64,
    pub pairs_per_worker: usize,
    cursors: Rc<Vec<Cell<u64>>>,
}

impl WriteMix {
    pub fn new(first_user: i64, pairs_per_worker: usize, workers: usize) -> Self {
        WriteMix {
            first_user,
            pairs_per_worker,
            cursors: Rc::new((0..workers).map(|_| Cell::new(0)).collect()),
        }
    }

    pub fn users_needed(pairs_per_worker: usize, workers: usize) -> u64 {
        (pairs_per_worker * workers * 2) as u64
    }

    /// (caller, target, op) of step `j` of worker `w`.
    fn step(first: i64, per: usize, w: usize, j: u64) -> (i64, i64, Op) {
        let pair = (j % per as u64) as usize;
        let phase = ((j / per as u64) % CYCLE.len() as u64) as usize;
        let a = first + 2 * (w * per + pair) as i64;
        let b = a + 1;
        let (a_calls, op) = CYCLE[phase];
        if a_calls {
            (a, b, op)
        } else {
            (b, a, op)
        }
    }

    pub fn server_workers(
        &self,
        addrs: &[SocketAddr],
        seeded: &Seeded,
    ) -> Result<Vec<impl AsyncFnMut() -> Result<()> + 'static>> {
        let per = self.pairs_per_worker;
        let steps = (per * CYCLE.len()) as u64;
        let mut out = Vec::new();
        for w in 0..self.cursors.len() {
            // One pre-built request per (pair, phase).
            let mut reqs = Vec::new();
            for j in 0..steps {
                let (from, to, op) = Self::step(self.first_user, per, w, j);
                let token = seeded
                    .token(from)
                    .ok_or_else(|| anyhow!("write user {from} has no session"))?;
                reqs.push(http::post_form(
                    addrs[0],
                    "/relation/operation",
                    Some(token),
                    &format!("to_user_id={to}&type={}", op.as_str()),
                ));
            }
            let cursors = self.cursors.clone();
            let mut conn = Conn::new(target(addrs, w));
            out.push(async move || {
                let j = cursors[w].get();
                cursors[w].set(j + 1);
                conn.request(&reqs[(j % steps) as usize]).await?.ensure_ok()
            });
        }
        Ok(out)
    }

    pub fn raw_workers(&self, pool: &PgPool) -> Vec<impl AsyncFnMut() -> Result<()> + 'static> {
        let (first, per) = (self.first_user, self.pairs_per_worker);
        (0..self.cursors.len())
            .map(|w| {
                let cursors = self.cursors.clone();
                let pool = pool.clone();
                async move || {
                    let j = cursors[w].get();
                    cursors[w].set(j + 1);
                    let (from, to, op) = Self::step(first, per, w, j);
                    match raw::operate(&pool, from, to, op).await? {
                        Outcome::Done(_) => Ok(()),
                        Outcome::Refused => bail!("{from} {} {to} refused", op.as_str()),
                    }
                }
            })
            .collect()
    }
}

/// Codes the server's `file` SMS provider wrote, read as the file grows.
pub struct CodeBook {
    file: PathBuf,
    pos: u64,
    codes: HashMap<String, String>,
}

impl CodeBook {
    pub fn new(file: PathBuf) -> Self {
        let pos = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        CodeBook {
            file,
            pos,
            codes: HashMap::new(),
        }
    }

    fn read_new(&mut self) -> Result<()> {
        let mut f = std::fs::File::open(&self.file)?;
        f.seek(SeekFrom::Start(self.pos))?;
        let mut buf = String::new();
        f.read_to_string(&mut buf)?;
        // Only whole lines; a partial last line is read next time.
        let whole = buf.rfind('\n').map(|i| i + 1).unwrap_or(0);
        for line in buf[..whole].lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            if let (Some(p), Some(c)) = (v["phone"].as_str(), v["code"].as_str()) {
                self.codes.insert(p.to_string(), c.to_string());
            }
        }
        self.pos += whole as u64;
        Ok(())
    }

    /// The latest code sent to `phone` (after its `sms/send` answered).
    pub fn take(&mut self, phone: &str) -> Result<String> {
        if let Some(c) = self.codes.remove(phone) {
            return Ok(c);
        }
        self.read_new()?;
        self.codes
            .remove(phone)
            .ok_or_else(|| anyhow!("no code in the SMS file for {phone}"))
    }
}

/// Sign-in workers: `sms/send` then `accessuser/signinbysms` with the code read from the
/// SMS file. Each worker signs in its own base users on `android` in turn (a repeat
/// sign-in that replaces the user's previous android session). Each worker is a client
/// of its own address behind the load balancer (`X-Forwarded-For`, with the loopback
/// peer trusted as the proxy), as traffic arrives in production: per-IP limits are then
/// per client, not one row every request queues on.
pub fn signin_workers(
    addr: SocketAddr,
    book: &Rc<RefCell<CodeBook>>,
    users: u64,
    n: usize,
) -> Vec<impl AsyncFnMut() -> Result<()> + 'static> {
    let per = ((users as usize) / n).clamp(1, 200);
    (0..n)
        .map(|w| {
            let book = book.clone();
            let phones: Vec<String> = (0..per)
                .map(|k| phone_of(((w * per + k) as u64 % users) as i64 + 1))
                .collect();
            let sends: Vec<Vec<u8>> = phones
                .iter()
                .map(|p| {
                    http::with_header(
                        http::post_form(
                            addr,
                            "/sms/send",
                            None,
                            &format!("nation_code=86&phone={p}"),
                        ),
                        "X-Forwarded-For",
                        &client_ip(w),
                    )
                })
                .collect();
            let mut conn = Conn::new(addr);
            let mut i = 0usize;
            async move || {
                let k = i % phones.len();
                i += 1;
                conn.request(&sends[k]).await?.ensure_ok()?;
                let code = book.borrow_mut().take(&phones[k])?;
                let body = format!(
                    "nation_code=86&phone={}&check_code={code}&device=android&device_id=bench-{w}",
                    phones[k]
                );
                let req = http::with_header(
                    http::post_form(addr, "/accessuser/signinbysms", None, &body),
                    "X-Forwarded-For",
                    &client_ip(w),
                );
                conn.request(&req).await?.ensure_ok()
            }
        })
        .collect()
}

fn client_ip(worker: usize) -> String {
    format!("10.77.{}.{}", worker / 250, worker % 250 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_steps_cycle_per_pair() {
        // Worker 1 of 2 pairs per worker, users from 100: pairs (104,105) and (106,107).
        let s: Vec<_> = (0..12).map(|j| WriteMix::step(100, 2, 1, j)).collect();
        assert_eq!(s[0], (104, 105, Op::Follow));
        assert_eq!(s[1], (106, 107, Op::Follow));
        assert_eq!(s[2], (104, 105, Op::Unfollow));
        assert_eq!(s[6], (105, 104, Op::Follow));
        assert_eq!(s[8], (104, 105, Op::Block));
        assert_eq!(s[11], (106, 107, Op::Unblock));
        assert_eq!(WriteMix::step(100, 2, 1, 12), s[0]);
        assert_eq!(WriteMix::users_needed(2, 3), 12);
    }

    #[test]
    fn code_book_reads_appended_lines() {
        let dir = std::env::temp_dir().join(format!("bench-codes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("sms.jsonl");
        std::fs::write(&f, "{\"phone\":\"1\",\"code\":\"111111\"}\n").unwrap();
        let mut book = CodeBook::new(f.clone());
        use std::io::Write;
        let mut h = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
        writeln!(h, "{{\"phone\":\"2\",\"code\":\"222222\"}}").unwrap();
        writeln!(h, "{{\"phone\":\"2\",\"code\":\"333333\"}}").unwrap();
        assert_eq!(book.take("2").unwrap(), "333333");
        assert!(book.take("1").is_err());
        assert!(book.take("2").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
