// uws_server.cpp -- the uWebSockets C++ peer for bench/compare.sh: /echo and
// /chat on one port, the same work as wspulse's endpoints and as the Bun peer
// (bun_server.js, which is uWebSockets underneath a JavaScript engine); this
// one is the library itself, one thread, one epoll loop, no JavaScript.
// Built by build_uws.sh from the sources of uNetworking/uWebSockets and
// uNetworking/uSockets (not part of this repository). Run: uws_server PORT
//
// /echo sends each text or binary message back, exactly.
// /chat parses the client's JSON, builds
//   {"type":"message","message":…,"sender":…,"timestamp":"2025-08-30T10:30:40.123456"}
// and publishes it with the app's pub/sub (App::publish, like Bun's
// server.publish: the sender included), uWebSockets' fastest broadcast path.
// A new member first gets a JSON welcome. /broadcast is the same room as
// /chat under a second name.
//
// The JSON handling matches JSON.parse / JSON.stringify of the Bun peer:
// any valid JSON is accepted; invalid JSON is answered with
// {"type":"error","message":"invalid JSON"}, anything but an object with
// "type":"message" and a string "message" with "unknown message type"; a
// missing or non-string "sender" is "anonymous"; a repeated key, the last
// one counts. Strings are decoded and escaped again as JSON.stringify does
// (", \, and control characters; the rest as UTF-8). One difference: a lone
// UTF-16 surrogate escape (\ud800 alone) becomes U+FFFD.
#include "App.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

namespace {

constexpr unsigned MAX_MESSAGE = 16 * 1024 * 1024 + 1024;  // wspulse's --max-message, with room
constexpr std::string_view ROOM = "chat";
long online = 0;
uWS::App *app = nullptr;

// --- JSON --------------------------------------------------------------------

struct Parser {
    const char *p, *end;
    int depth = 0;

    void ws()
    {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
    }

    static int hex(char c)
    {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    bool hex4(unsigned &v)
    {
        if (end - p < 4)
            return false;
        v = 0;
        for (int i = 0; i < 4; i++) {
            int h = hex(p[i]);
            if (h < 0)
                return false;
            v = v << 4 | (unsigned)h;
        }
        p += 4;
        return true;
    }

    static void utf8(std::string *out, unsigned cp)
    {
        if (cp < 0x80) {
            out->push_back((char)cp);
        } else if (cp < 0x800) {
            out->push_back((char)(0xC0 | cp >> 6));
            out->push_back((char)(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out->push_back((char)(0xE0 | cp >> 12));
            out->push_back((char)(0x80 | (cp >> 6 & 0x3F)));
            out->push_back((char)(0x80 | (cp & 0x3F)));
        } else {
            out->push_back((char)(0xF0 | cp >> 18));
            out->push_back((char)(0x80 | (cp >> 12 & 0x3F)));
            out->push_back((char)(0x80 | (cp >> 6 & 0x3F)));
            out->push_back((char)(0x80 | (cp & 0x3F)));
        }
    }

    // A string at p (at its opening quote), decoded into *out when out is set.
    bool string(std::string *out)
    {
        p++;
        for (;;) {
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                p++;
            if (out)
                out->append(run, (size_t)(p - run));
            if (p >= end || (unsigned char)*p < 0x20)
                return false;
            if (*p++ == '"')
                return true;
            if (p >= end)
                return false;
            char e = *p++;
            char c;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned cp;
                if (!hex4(cp))
                    return false;
                if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                    const char *save = p;
                    unsigned lo;
                    p += 2;
                    if (!hex4(lo))
                        return false;
                    if (lo >= 0xDC00 && lo < 0xE000)
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    else
                        p = save;        // a lone high surrogate; lo is read next
                }
                if (cp >= 0xD800 && cp < 0xE000)
                    cp = 0xFFFD;
                if (out)
                    utf8(out, cp);
                continue;
            }
            default:
                return false;
            }
            if (out)
                out->push_back(c);
        }
    }

    bool digits()
    {
        const char *s = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        return p > s;
    }

    bool number()
    {
        if (*p == '-')
            p++;
        if (p < end && *p == '0')
            p++;
        else if (!digits())
            return false;
        if (p < end && *p == '.') {
            p++;
            if (!digits())
                return false;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < end && (*p == '+' || *p == '-'))
                p++;
            if (!digits())
                return false;
        }
        return true;
    }

    bool literal(std::string_view word)
    {
        if ((size_t)(end - p) < word.size() || std::string_view(p, word.size()) != word)
            return false;
        p += word.size();
        return true;
    }

    // Any value at p (after white space); a string is decoded into *str when
    // str is set, and *is_string says whether it was one.
    bool value(std::string *str = nullptr, bool *is_string = nullptr)
    {
        if (is_string)
            *is_string = false;
        if (p >= end)
            return false;
        switch (*p) {
        case '"':
            if (is_string)
                *is_string = true;
            return string(str);
        case '{':
            return object(nullptr);
        case '[':
            return array();
        case 't':
            return literal("true");
        case 'f':
            return literal("false");
        case 'n':
            return literal("null");
        default:
            return number();
        }
    }

    bool array()
    {
        if (++depth > 512)
            return false;
        p++;
        ws();
        if (p < end && *p == ']') {
            p++;
            depth--;
            return true;
        }
        for (;;) {
            ws();
            if (!value())
                return false;
            ws();
            if (p >= end)
                return false;
            if (*p == ']') {
                p++;
                depth--;
                return true;
            }
            if (*p++ != ',')
                return false;
        }
    }

    // The members of a chat message, from the top-level object.
    struct Chat {
        std::string type, message, sender;
        bool type_ok = false, message_ok = false, sender_ok = false;
    };

    bool object(Chat *chat)
    {
        if (++depth > 512)
            return false;
        p++;
        ws();
        if (p < end && *p == '}') {
            p++;
            depth--;
            return true;
        }
        std::string key;
        for (;;) {
            ws();
            if (p >= end || *p != '"')
                return false;
            key.clear();
            if (!string(chat ? &key : nullptr))
                return false;
            ws();
            if (p >= end || *p++ != ':')
                return false;
            ws();
            std::string *into = nullptr;
            bool *ok = nullptr;
            if (chat) {
                if (key == "type")
                    into = &chat->type, ok = &chat->type_ok;
                else if (key == "message")
                    into = &chat->message, ok = &chat->message_ok;
                else if (key == "sender")
                    into = &chat->sender, ok = &chat->sender_ok;
            }
            if (into)
                into->clear();
            if (!value(into, ok))
                return false;
            ws();
            if (p >= end)
                return false;
            if (*p == '}') {
                p++;
                depth--;
                return true;
            }
            if (*p++ != ',')
                return false;
        }
    }
};

// s as the body of a JSON string, escaped as JSON.stringify does.
void escape(std::string &out, std::string_view s)
{
    static const char digits[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < s.size(); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            out += "\\u00";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    out.append(s.data() + run, s.size() - run);
}

// Local time as 2025-08-30T10:30:40.123456, like wspulse and Python's isoformat.
void timestamp(std::string &out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char buf[40];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%06ld", ts.tv_nsec / 1000);
    out += buf;
}

std::string system_message(std::string_view text)
{
    std::string out = "{\"type\":\"system\",\"message\":\"";
    escape(out, text);
    out += "\",\"timestamp\":\"";
    timestamp(out);
    out += "\"}";
    return out;
}

struct PerSocket {};
using WebSocket = uWS::WebSocket<false, true, PerSocket>;

void on_chat(WebSocket *ws, std::string_view data)
{
    Parser parser{data.data(), data.data() + data.size()};
    Parser::Chat chat;
    parser.ws();
    bool is_object = parser.p < parser.end && *parser.p == '{';
    bool valid = is_object ? parser.object(&chat) : parser.value();
    parser.ws();
    if (!valid || parser.p != parser.end) {
        ws->send("{\"type\":\"error\",\"message\":\"invalid JSON\"}", uWS::OpCode::TEXT);
        return;
    }
    if (!is_object || !chat.type_ok || chat.type != "message" || !chat.message_ok) {
        ws->send("{\"type\":\"error\",\"message\":\"unknown message type\"}", uWS::OpCode::TEXT);
        return;
    }
    std::string out;
    out.reserve(chat.message.size() + chat.sender.size() + 96);
    out += "{\"type\":\"message\",\"message\":\"";
    escape(out, chat.message);
    out += "\",\"sender\":\"";
    escape(out, chat.sender_ok ? std::string_view(chat.sender) : std::string_view("anonymous"));
    out += "\",\"timestamp\":\"";
    timestamp(out);
    out += "\"}";
    app->publish(ROOM, out, uWS::OpCode::TEXT);
}

// The settings of every endpoint, as the Bun peer's.
uWS::App::WebSocketBehavior<PerSocket> behavior()
{
    uWS::App::WebSocketBehavior<PerSocket> b;
    b.compression = uWS::DISABLED;
    b.maxPayloadLength = MAX_MESSAGE;
    b.idleTimeout = 0;                       // no idle close: the conns workload holds sockets
    b.maxBackpressure = 64 * 1024 * 1024;
    b.closeOnBackpressureLimit = false;
    b.sendPingsAutomatically = false;
    return b;
}

uWS::App::WebSocketBehavior<PerSocket> chat_behavior()
{
    auto b = behavior();
    b.open = [](WebSocket *ws) {
        online++;
        ws->send(system_message("Welcome! You are now connected to the broadcast server. " +
                                std::to_string(online) + " client(s) online."),
                 uWS::OpCode::TEXT);
        ws->subscribe(ROOM);
    };
    b.message = [](WebSocket *ws, std::string_view data, uWS::OpCode) { on_chat(ws, data); };
    b.close = [](WebSocket *, int, std::string_view) { online--; };
    return b;
}

}  // namespace

int main(int argc, char **argv)
{
    char *rest = nullptr;
    long port = argc == 2 ? strtol(argv[1], &rest, 10) : 0;
    if (argc != 2 || *rest || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: uws_server PORT\n");
        return 2;
    }
    uWS::App the_app;
    app = &the_app;

    auto echo = behavior();
    echo.message = [](WebSocket *ws, std::string_view data, uWS::OpCode op) { ws->send(data, op); };
    the_app.ws<PerSocket>("/echo", std::move(echo));
    the_app.ws<PerSocket>("/chat", chat_behavior());
    the_app.ws<PerSocket>("/broadcast", chat_behavior());
    the_app.any("/*", [](auto *res, auto *) { res->writeStatus("404 Not Found")->end("not found"); });
    bool listening = false;
    // Exclusive: no SO_REUSEPORT (uSockets' default), so a port in use is an error.
    the_app.listen("127.0.0.1", (int)port, LIBUS_LISTEN_EXCLUSIVE_PORT,
                   [&](us_listen_socket_t *s) { listening = s != nullptr; });
    if (!listening) {
        fprintf(stderr, "uws peer: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    fprintf(stderr, "uws peer listening on 127.0.0.1:%ld\n", port);
    the_app.run();
    return 0;
}
