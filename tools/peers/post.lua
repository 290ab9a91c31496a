-- post.lua: wrk script of scripts/bench-peers.sh. POSTs one GraphQL request
-- body (read from a file) over and over, and prints one summary line:
--
--   wrk -t2 -c16 -d10s -s post.lua URL -- BODY_FILE [AUTHORIZATION]
--
-- A response that is not HTTP 200 or whose body has "errors" counts as a bad
-- answer (wrk itself counts only non-2xx/3xx statuses and socket errors).
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	local f = assert(io.open(args[1], "rb"))
	wrk.body = f:read("*a")
	f:close()
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Accept"] = "application/json"
	if args[2] ~= nil and args[2] ~= "" and args[2] ~= "-" then
		wrk.headers["Authorization"] = args[2]
	end
	bad = 0
	sample = ""
end

function response(status, headers, body)
	if status ~= 200 or string.find(body, '"errors"', 1, true) then
		bad = bad + 1
		if sample == "" then
			sample = string.sub(string.gsub(body, "%s+", " "), 1, 300)
		end
	end
end

function done(summary, latency, requests)
	local nbad, first = 0, ""
	for _, t in ipairs(threads) do
		nbad = nbad + (t:get("bad") or 0)
		local s = t:get("sample") or ""
		if first == "" and s ~= "" then
			first = s
		end
	end
	local e = summary.errors
	io.write(string.format(
		"wrk-result requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d bad=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99), nbad, e.status, e.connect, e.read, e.write, e.timeout))
	if first ~= "" then
		io.write("wrk-bad-sample " .. first .. "\n")
	end
end
