package dev.jllm.server;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the server answers with an error: the HTTP status and OpenAI's error body
 * {@code {"error": {"message", "type", "param", "code"}}}. {@code param} names the request field at fault (null when
 * none is).
 */
final class ApiException extends RuntimeException {

    static final String INVALID_REQUEST = "invalid_request_error";
    static final String AUTHENTICATION = "authentication_error";
    static final String SERVER_ERROR = "server_error";
    static final String UNAVAILABLE = "unavailable_error";

    final int status;
    final String type;
    final String param;
    final String code;
    /** Seconds for a {@code Retry-After} header, or 0 for none. */
    final int retryAfterSeconds;

    ApiException(int status, String type, String param, String code, String message, int retryAfterSeconds) {
        super(dev.jllm.io.Printable.escape(message)); // one line, whatever the request quoted (it is also logged)
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400 for a field of the request. */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, INVALID_REQUEST, param, null, message, 0);
    }

    static ApiException invalid(String param, String code, String message) {
        return new ApiException(400, INVALID_REQUEST, param, code, message, 0);
    }

    static ApiException unavailable(String code, String message, int retryAfterSeconds) {
        return new ApiException(503, UNAVAILABLE, null, code, message, retryAfterSeconds);
    }

    ObjectNode body() {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return root;
    }
}
