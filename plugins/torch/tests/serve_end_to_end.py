#!/usr/bin/env python3
"""End-to-end check of `rscovlm serve --backend torch` on the tiny random model (stdlib only).

Usage: serve_end_to_end.py RSCOVLM_CLI DATA_DIR WORK_DIR

Starts the server on a free port of 127.0.0.1 and checks, over HTTP:
- greedy answers equal `rscovlm generate`'s single-prompt ones (text only, and with a PNG data URL);
- concurrent requests (answered as batches by the engine) give the same answers;
- streaming (server-sent events) spells the same answer, with one logprob entry per token;
- logprobs: the tokens' bytes spell the answer; top_logprobs are sorted and hold the chosen token;
- n, stop, max_tokens, errors (bad JSON, bad parameter, unknown model, oversized image, outside root);
- rscovlm's own OpenAI client as the client: `zoom run` and `detect-scene` through the server give
  what the same commands give with `--backend torch` in process, also with constrained decoding
  (`--constrain`, the grammar sent as `rscovlm_grammar`) and box scores from logprobs (`--box-scores`);
- SIGTERM stops it gracefully (exit 0, a summary line).
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from e2e_common import png_bytes, run


def post(base, body, raw=False):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + "/chat/completions", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            text = r.read().decode()
            return r.status, (text if raw else json.loads(text))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def user(text, image_url=None):
    content = text if image_url is None else [{"type": "image_url", "image_url": {"url": image_url}},
                                              {"type": "text", "text": text}]
    return [{"role": "user", "content": content}]


def main():
    cli, data_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    tok = os.path.join(data_dir, "tokenizer", "qwen", "tokenizer.json")
    model = os.path.join(work, "tiny")
    run([cli, "tiny-model", "--out", model, "--tokenizer", tok])
    img = os.path.join(work, "scene.png")
    with open(img, "wb") as f:
        f.write(png_bytes(130, 90))
    with open(img, "rb") as f:
        data_url = "data:image/png;base64," + base64.b64encode(f.read()).decode()

    def single(prompt, n, with_img):
        cmd = [cli, "-q", "generate", "--model", model, "--prompt", prompt, "--max-new-tokens", str(n), "--greedy",
               "--json"] + (["--image", img] if with_img else [])
        return json.loads(run(cmd).stdout)

    cases = [("Describe the image.", 6, True), ("Hello", 5, False), ("Count the planes.", 4, True),
             ("What is shown here in detail?", 3, False)]
    expected = [single(*c) for c in cases]
    # A video of three frames (a directory under the image root), fps 1, as `generate` takes it as a frame
    # list; the server must give the same answer for the frames as a data URL and as that directory.
    frames_dir = os.path.join(work, "frames")
    os.makedirs(frames_dir)
    frame_bytes = [png_bytes(84, 56, seed=k) for k in range(3)]
    for k, b in enumerate(frame_bytes):
        with open(os.path.join(frames_dir, "%03d.png" % k), "wb") as f:
            f.write(b)
    expected_video = json.loads(run([cli, "-q", "generate", "--model", model, "--prompt", "What moves?", "--video",
                                     frames_dir, "--video-frames-as-list", "--video-fps", "1", "--max-new-tokens", "5",
                                     "--greedy", "--json"]).stdout)

    port_file = os.path.join(work, "port")
    server = subprocess.Popen([cli, "serve", "--backend", "torch", "--model-dir", model, "--port", "0",
                               "--port-file", port_file, "--image-root", work, "--max-image-pixels", "220000",
                               "--temperature", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            if server.poll() is not None:
                print("server exited:", server.returncode, server.stderr.read()[-2000:])
                return 1
            time.sleep(0.1)
        port = int(open(port_file).read())
        base = "http://127.0.0.1:%d/v1" % port
        with urllib.request.urlopen(base + "/models", timeout=30) as r:
            models = json.loads(r.read())
        assert models["data"][0]["id"] == "tiny", models

        def ask(i, **extra):
            prompt, n, with_img = cases[i]
            body = {"model": "tiny", "messages": user(prompt, data_url if with_img else None), "max_tokens": n,
                    "temperature": 0}
            body.update(extra)
            return post(base, body)

        # Greedy answers equal the single-prompt CLI's.
        for i, e in enumerate(expected):
            st, r = ask(i)
            assert st == 200, (st, r)
            assert r["choices"][0]["message"]["content"] == e["text"], (i, r, e)
            assert r["usage"]["prompt_tokens"] == e["prompt_tokens"], (r["usage"], e)
            assert r["usage"]["completion_tokens"] == len(e["tokens"]), (r["usage"], e)

        # Videos: frames as vLLM's data:video/jpeg URL (here PNG frames) and as a directory under the root.
        frames_url = "data:video/jpeg;base64," + ",".join(base64.b64encode(b).decode() for b in frame_bytes)
        for url in (frames_url, "frames"):
            st, r = post(base, {"messages": [{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": url}, "fps": 1}, {"type": "text", "text": "What moves?"}]}],
                "max_tokens": 5, "temperature": 0})
            assert st == 200, (st, r)
            assert r["choices"][0]["message"]["content"] == expected_video["text"], (url[:40], r, expected_video)
            assert r["usage"]["prompt_tokens"] == expected_video["prompt_tokens"], (r["usage"], expected_video)
        st, r = post(base, {"messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAAIGZ0eXBpc29t"}},
            {"type": "text", "text": "x"}]}]})
        assert st == 400 and r["error"]["code"] == "invalid_video", (st, r)

        # Concurrent requests: batched by the engine, same answers.
        results = [None] * 8
        def worker(k):
            results[k] = ask(k % 4)
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k, (st, r) in enumerate(results):
            assert st == 200 and r["choices"][0]["message"]["content"] == expected[k % 4]["text"], (k, st, r)

        # Logprobs: bytes spell the answer; the top alternatives are sorted and hold the chosen token.
        st, r = ask(0, logprobs=True, top_logprobs=3)
        assert st == 200, r
        content = r["choices"][0]["logprobs"]["content"]
        spelled = b"".join(bytes(t["bytes"]) for t in content).decode("utf-8", "replace")
        assert spelled.startswith(r["choices"][0]["message"]["content"]), (spelled, r)
        for t in content:
            tops = [a["logprob"] for a in t["top_logprobs"]]
            assert len(tops) == 3 and tops == sorted(tops, reverse=True), t
            assert t["logprob"] <= 0 and abs(tops[0] - t["logprob"]) < 1e-6, t  # greedy: the chosen is the best

        # Streaming spells the same answer, one logprob entry per token.
        req = urllib.request.Request(base + "/chat/completions", data=json.dumps(
            {"messages": user(cases[0][0], data_url), "max_tokens": cases[0][1], "stream": True, "logprobs": True,
             "stream_options": {"include_usage": True}}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream"), resp.headers
            events = [l[6:] for l in resp.read().decode().split("\n") if l.startswith("data: ")]
        assert events[-1] == "[DONE]", events[-3:]
        chunks = [json.loads(e) for e in events[:-1]]
        streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        ntok = sum(len(c["choices"][0]["logprobs"]["content"]) for c in chunks
                   if c["choices"] and c["choices"][0].get("logprobs"))
        assert streamed == expected[0]["text"], (streamed, expected[0])
        usage = [c["usage"] for c in chunks if c.get("usage")]
        assert usage and usage[0]["completion_tokens"] == len(expected[0]["tokens"]), usage
        assert ntok == len(content), (ntok, len(content))  # the same tokens as the non-streamed answer's

        # n greedy choices are identical; stop strings cut; max_tokens limits.
        st, r = ask(1, n=3)
        assert st == 200 and len(r["choices"]) == 3, r
        assert all(c["message"]["content"] == expected[1]["text"] for c in r["choices"]), r
        first = expected[1]["text"]
        if len(first) > 2:
            stop = first[1:3]
            st, r = ask(1, stop=[stop])
            assert st == 200 and r["choices"][0]["message"]["content"] == first[:first.find(stop)], (r, first)
            assert r["choices"][0]["finish_reason"] == "stop", r
        st, r = ask(1, max_tokens=1)
        assert st == 200 and r["choices"][0]["finish_reason"] in ("length", "stop"), r

        # Images by path under the root; errors with OpenAI bodies.
        st, r = post(base, {"messages": user(cases[0][0], "scene.png"), "max_tokens": cases[0][1]})
        assert st == 200 and r["choices"][0]["message"]["content"] == expected[0]["text"], r
        st, r = post(base, {"messages": user("x", "/etc/passwd")})
        assert st == 403 and r["error"]["code"] == "path_outside_root", r
        st, r = post(base, b"{not json")
        assert st == 400 and r["error"]["code"] == "invalid_json", r
        st, r = post(base, {"messages": user("x"), "temperature": 9})
        assert st == 400 and r["error"]["param"] == "temperature", r
        st, r = post(base, {"model": "gpt-4", "messages": user("x")})
        assert st == 404 and r["error"]["code"] == "model_not_found", r
        big = "data:image/png;base64," + base64.b64encode(png_bytes(600, 400)).decode()
        st, r = post(base, {"messages": user("x", big)})
        assert st == 400 and r["error"]["code"] == "invalid_image", r

        # rscovlm's OpenAI client through the server equals the in-process torch backend.
        zoom = [cli, "-q", "zoom", "run", "--image", img, "--question", "Where is the plane?", "--max-steps", "2",
                "--max-new-tokens", "12", "--json"]
        z_torch = json.loads(run(zoom + ["--backend", "torch", "--model-dir", model]).stdout)
        z_http = json.loads(run(zoom + ["--backend", "openai", "--endpoint", base]).stdout)
        assert z_torch["trace"]["steps"] and z_torch["trace"] == z_http["trace"], (z_torch, z_http)
        assert z_torch["answer"] == z_http["answer"], (z_torch, z_http)
        big_scene = os.path.join(work, "big.png")
        with open(big_scene, "wb") as f:
            f.write(png_bytes(700, 500, seed=3))
        scene = [cli, "-q", "detect-scene", "--image", big_scene, "--patch-size", "400", "--patch-gap", "100",
                 "--classes", "plane,ship", "--max-new-tokens", "40", "--in-flight", "2"]
        def answers(d):
            with open(os.path.join(work, d, "windows.jsonl")) as f:
                return [json.loads(l) for l in f]
        # With constrained decoding and box scores: in process, and through the server (the grammar as
        # the rscovlm_grammar field, scores from the returned logprobs), the windows get the same
        # answers, boxes and scores, and every window's answer decodes whole.
        extra = ["--constrain", "--box-scores", "mean"]
        run(scene + extra + ["--out", os.path.join(work, "scored_torch"), "--backend", "torch", "--model-dir", model])
        run(scene + extra + ["--out", os.path.join(work, "scored_http"), "--backend", "openai", "--endpoint", base,
                             "--guided-field", "rscovlm_grammar"])
        st_, sh_ = answers("scored_torch"), answers("scored_http")
        assert len(st_) == len(sh_) >= 4, (len(st_), len(sh_))
        for a, b in zip(st_, sh_):
            assert a == b, (a, b)
            assert a["dropped"] == 0 and "error" not in a, a
        assert sum(a["objects"] for a in st_) > 0, st_
        def task1(d):
            folder = os.path.join(work, d, "Task1")
            return {f: open(os.path.join(folder, f)).read() for f in sorted(os.listdir(folder))}
        t_torch, t_http = task1("scored_torch"), task1("scored_http")
        assert t_torch == t_http, (t_torch, t_http)
        scores = [float(l.split()[1]) for text in t_torch.values() for l in text.splitlines() if l.strip()]
        # Scored, not the unscored 1.0 (the random model's token probabilities are tiny, and Task1 rounds
        # scores to two decimals as mmrotate does).
        assert scores and all(0 <= s < 1 for s in scores), scores
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, err = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
            print("server did not stop on SIGTERM:", err[-2000:])
            return 1
    assert server.returncode == 0, (server.returncode, err[-2000:])
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["served"] >= 20, summary
    assert "POST /v1/chat/completions 200" in err, err[-2000:]
    print("serve end to end: greedy equality, concurrent batching, logprobs, streaming, n/stop/max_tokens, errors, "
          "zoom and detect-scene through the server, graceful SIGTERM: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
