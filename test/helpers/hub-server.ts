/**
 * A test Hugging Face Hub on loopback: two real node:http servers. The hub answers the API
 * (`/api/models/{repo}/revision/{rev}`), file metadata and downloads (`/{repo}/resolve/{rev}/{path}`:
 * X-Repo-Commit, X-Linked-Etag, X-Linked-Size; LFS files redirect to the CDN), gated and private
 * repos, 404s with X-Error-Code, and a renamed repo's relative redirect. The CDN serves LFS
 * blobs with Range/206 and refuses any request carrying an Authorization header. Faults can be
 * queued per file (dropped connection, wrong bytes, slow or stalled body, 5xx, Range ignored);
 * every request and every body byte served is recorded.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { type: 'drop'; after: number }
  | { type: 'corrupt' }
  | { type: 'slow'; chunk: number; intervalMs: number }
  | { type: 'stall'; after: number; ms: number }
  | { type: 'status'; code: number }
  | { type: 'ignoreRange' };

export interface TestFile {
  data: Buffer;
  lfs: boolean;
  sha256: string;
  /** git blob oid (sha1 of "blob <size>\0" + data): the etag of non-LFS files. */
  oid: string;
}

interface Repo {
  id: string;
  commits: Map<string, Map<string, TestFile>>;
  refs: Map<string, string>;
  gated: boolean;
  private: boolean;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer): string =>
  crypto
    .createHash('sha1')
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest('hex');

export class TestHub {
  readonly repos = new Map<string, Repo>();
  /** Repos answered with a relative redirect to their new name. */
  readonly renamed = new Map<string, string>();
  readonly log: LoggedRequest[] = [];
  /** Body bytes sent (CDN and hub) per file sha256. */
  readonly served = new Map<string, number>();
  /** Tokens the hub knows, and the gated repos each has accepted the terms of. */
  readonly tokens = new Map<string, Set<string>>();
  /** Requests that reached the CDN with an Authorization header (it refused them). */
  authLeaks = 0;
  readonly faults = new Map<string, Fault[]>();
  private hub!: http.Server;
  private cdn!: http.Server;
  endpoint = '';
  cdnOrigin = '';
  private commitCounter = 0;

  /** Adds a commit on `branch` (default main) holding `files`; LFS for .gguf/.safetensors and files > 10 KB. */
  addRepo(
    id: string,
    files: Record<string, Buffer>,
    opts: { gated?: boolean; private?: boolean; branch?: string } = {},
  ): string {
    let repo = this.repos.get(id);
    if (!repo) {
      repo = { id, commits: new Map(), refs: new Map(), gated: !!opts.gated, private: !!opts.private };
      this.repos.set(id, repo);
    }
    const commit = crypto.createHash('sha1').update(`${id}#${this.commitCounter++}`).digest('hex');
    const map = new Map<string, TestFile>();
    for (const [p, data] of Object.entries(files)) {
      map.set(p, {
        data,
        lfs: /\.(gguf|safetensors)$/.test(p) || data.length > 10 * 1024,
        sha256: sha256(data),
        oid: gitOid(data),
      });
    }
    repo.commits.set(commit, map);
    repo.refs.set(opts.branch ?? 'main', commit);
    return commit;
  }

  /** Queues a fault for the next download(s) of the file with this content. */
  fault(data: Buffer, ...faults: Fault[]): void {
    const key = sha256(data);
    this.faults.set(key, [...(this.faults.get(key) ?? []), ...faults]);
  }

  servedBytes(data: Buffer): number {
    return this.served.get(sha256(data)) ?? 0;
  }

  requests(server: 'hub' | 'cdn', method?: string): LoggedRequest[] {
    return this.log.filter((r) => r.server === server && (method === undefined || r.method === method));
  }

  reset(): void {
    this.log.length = 0;
    this.served.clear();
    this.faults.clear();
    this.authLeaks = 0;
  }

  async start(): Promise<void> {
    this.hub = http.createServer((req, res) => this.onHub(req, res));
    this.cdn = http.createServer((req, res) => this.onCdn(req, res));
    for (const s of [this.hub, this.cdn]) {
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    }
    this.endpoint = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnOrigin = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  private record(server: 'hub' | 'cdn', req: http.IncomingMessage): LoggedRequest {
    const r: LoggedRequest = { server, method: req.method ?? '', url: req.url ?? '' };
    if (req.headers.range) r.range = req.headers.range;
    if (req.headers.authorization) r.authorization = req.headers.authorization;
    this.log.push(r);
    return r;
  }

  private tokenOf(req: http.IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m && this.tokens.has(m[1]!) ? m[1] : undefined;
  }

  private error(res: http.ServerResponse, status: number, code: string, message: string): void {
    res.writeHead(status, { 'x-error-code': code, 'x-error-message': message, 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: message }));
  }

  /** The repo and commit, or an error answer already sent. */
  private find(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    id: string,
    rev: string,
  ): { repo: Repo; commit: string; files: Map<string, TestFile> } | undefined {
    const repo = this.repos.get(id);
    const token = this.tokenOf(req);
    if (!repo || (repo.private && !token)) {
      this.error(res, token ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    const commit = repo.commits.has(rev) ? rev : repo.refs.get(rev);
    if (!commit) {
      this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return undefined;
    }
    return { repo, commit, files: repo.commits.get(commit)! };
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('hub', req);
    const url = new URL(req.url ?? '/', this.endpoint);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api && req.method === 'GET') {
      const id = decodeURIComponent(api[1]!);
      const renamedTo = this.renamed.get(id);
      if (renamedTo) {
        res.writeHead(307, { location: url.pathname.replace(`/${id}/`, `/${renamedTo}/`) + url.search }).end();
        return;
      }
      const fault = this.faults.get(`api:${id}`)?.shift();
      if (fault?.type === 'status') {
        res.writeHead(fault.code).end();
        return;
      }
      const found = this.find(req, res, id, decodeURIComponent(api[2]!));
      if (!found) return;
      const blobs = url.searchParams.get('blobs') === 'true';
      const siblings = [...found.files].map(([p, f]) =>
        blobs
          ? {
              rfilename: p,
              size: f.data.length,
              blobId: f.oid,
              ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.data.length, pointerSize: 134 } } : {}),
            }
          : { rfilename: p },
      );
      const body = JSON.stringify({
        _id: id,
        id,
        private: found.repo.private,
        gated: found.repo.gated ? 'auto' : false,
        sha: found.commit,
        siblings,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve && (req.method === 'GET' || req.method === 'HEAD')) {
      const id = decodeURIComponent(resolve[1]!);
      const renamed = this.renamed.get(id);
      if (renamed) {
        res.writeHead(307, { location: url.pathname.replace(`/${id}/`, `/${renamed}/`) }).end();
        return;
      }
      const found = this.find(req, res, id, decodeURIComponent(resolve[2]!));
      if (!found) return;
      if (found.repo.gated) {
        const token = this.tokenOf(req);
        if (!token || !this.tokens.get(token)!.has(id)) {
          this.error(res, token ? 403 : 401, 'GatedRepo', `Access to model ${id} is restricted.`);
          return;
        }
      }
      const path = resolve[3]!.split('/').map(decodeURIComponent).join('/');
      const file = found.files.get(path);
      if (!file) {
        this.error(res, 404, 'EntryNotFound', `${path} does not exist on "${resolve[2]}"`);
        return;
      }
      const headers: http.OutgoingHttpHeaders = { 'x-repo-commit': found.commit, 'accept-ranges': 'bytes' };
      if (file.lfs) {
        headers['x-linked-etag'] = `"${file.sha256}"`;
        headers['x-linked-size'] = String(file.data.length);
        headers['etag'] = `W/"${gitOid(Buffer.from(`oid sha256:${file.sha256}`))}"`;
        headers['location'] = `${this.cdnOrigin}/blobs/${file.sha256}?expires=9999999999&signature=test`;
        res.writeHead(302, headers).end();
        return;
      }
      headers['etag'] = `"${file.oid}"`;
      this.sendBody(req, res, file, headers);
      return;
    }
    this.error(res, 404, 'NotFound', 'not found');
  }

  private onCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('cdn', req);
    if (req.headers.authorization) {
      this.authLeaks++;
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Only one auth mechanism allowed');
      return;
    }
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(new URL(req.url ?? '/', this.cdnOrigin).pathname);
    let file: TestFile | undefined;
    if (m) {
      for (const repo of this.repos.values())
        for (const files of repo.commits.values()) for (const f of files.values()) if (f.sha256 === m[1]) file = f;
    }
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    this.sendBody(req, res, file, { etag: `"${file.sha256}"`, 'accept-ranges': 'bytes' });
  }

  /** The file's bytes (or the requested range), with the next queued fault applied. */
  private sendBody(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    file: TestFile,
    headers: http.OutgoingHttpHeaders,
  ): void {
    const key = file.sha256;
    const fault = req.method === 'GET' ? this.faults.get(file.sha256)?.shift() : undefined;
    if (fault?.type === 'status') {
      res.writeHead(fault.code).end();
      return;
    }
    const size = file.data.length;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && fault?.type !== 'ignoreRange') {
      start = Number(range[1]);
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    }
    let body = file.data.subarray(start);
    if (fault?.type === 'corrupt') {
      body = Buffer.from(body);
      const i = body.length >> 1;
      body.writeUInt8(body.readUInt8(i) ^ 0xff, i);
    }
    headers['content-length'] = String(body.length);
    headers['content-type'] = 'application/octet-stream';
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const count = (n: number): void => {
      this.served.set(key, (this.served.get(key) ?? 0) + n);
    };
    if (fault?.type === 'drop') {
      const part = body.subarray(0, fault.after);
      count(part.length);
      // end, not destroy: every byte written reaches the client before the cut
      res.write(part, () => res.socket?.end());
      return;
    }
    if (fault?.type === 'slow' || fault?.type === 'stall') {
      let off = 0;
      const step = (): void => {
        if (res.destroyed) return;
        if (off >= body.length) {
          res.end();
          return;
        }
        const n = fault.type === 'slow' ? fault.chunk : off === 0 ? fault.after : body.length - off;
        const part = body.subarray(off, off + n);
        off += part.length;
        count(part.length);
        res.write(part);
        setTimeout(step, fault.type === 'slow' ? fault.intervalMs : fault.ms);
      };
      res.on('close', () => undefined);
      step();
      return;
    }
    count(body.length);
    res.end(body);
  }
}
