package dev.jllm.tokenizer;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.jllm.tokenizer.spm.SentencePieceModel.ModelProto;
import dev.jllm.tokenizer.spm.SentencePieceModel.NormalizerSpec;
import dev.jllm.tokenizer.spm.SentencePieceModel.TrainerSpec;
import java.nio.file.Path;

/**
 * Reads SentencePiece's {@code tokenizer.model}: a serialized {@code sentencepiece.ModelProto} (schema in
 * {@code src/main/protobuf/sentencepiece_model.proto}), as Llama 2, TinyLlama and Mistral ship it. Only BPE models are
 * supported (SentencePiece's unigram models need another algorithm). Piece types are SentencePiece's, which GGUF
 * copies; BOS, EOS, unknown and padding ids come from the trainer spec, the space prefix from the normalizer spec's
 * {@code add_dummy_prefix}. BOS is added by default, as llama.cpp does for SentencePiece vocabularies.
 */
public final class SentencePieceModelLoader {

    private static final int MODEL_TYPE_UNIGRAM = 1;
    private static final int MODEL_TYPE_BPE = 2;

    private SentencePieceModelLoader() {
    }

    public static TokenizerSpec load(Path file) {
        return parse(file, TokenizerFiles.readAll(file));
    }

    /** The tokenizer of a ModelProto's bytes; {@code file} names them in messages. */
    static TokenizerSpec parse(Path file, byte[] data) {
        ModelProto proto;
        try {
            proto = ModelProto.parseFrom(data);
        } catch (InvalidProtocolBufferException e) {
            throw malformed(file, "not a SentencePiece model protobuf (" + firstLine(e.getMessage()) + ")");
        }
        return spec(file, proto);
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unreadable";
        }
        int newline = message.indexOf('\n');
        return (newline < 0 ? message : message.substring(0, newline)).strip();
    }

    static TokenizerSpec spec(Path file, ModelProto proto) {
        int size = proto.getPiecesCount();
        if (size == 0) {
            throw malformed(file, "no pieces (not a SentencePiece model protobuf?)");
        }
        TrainerSpec trainer = proto.getTrainerSpec();
        int modelType = trainer.getModelType();
        if (modelType != MODEL_TYPE_BPE) {
            throw malformed(file, "SentencePiece model type " + modelTypeName(modelType)
                    + " is not supported (only BPE, as Llama 2 uses)");
        }
        String[] tokens = new String[size];
        float[] scores = new float[size];
        int[] types = new int[size];
        for (int id = 0; id < size; id++) {
            ModelProto.SentencePiece piece = proto.getPieces(id);
            if (!piece.hasPiece()) {
                throw malformed(file, "piece " + id + " has no text");
            }
            int type = piece.getType();
            if (type < TokenizerSpec.TYPE_NORMAL || type > TokenizerSpec.TYPE_BYTE) {
                throw malformed(file, "piece " + id + " has type " + type + " (expected 1 to 6)");
            }
            tokens[id] = piece.getPiece();
            scores[id] = piece.getScore();
            types[id] = type;
        }
        NormalizerSpec normalizer = proto.getNormalizerSpec();
        return new TokenizerSpec("llama", null, tokens, scores, types, null,
                id(trainer.getBosId(), size), id(trainer.getEosId(), size), id(trainer.getUnkId(), size),
                id(trainer.getPadId(), size), true, false, normalizer.getAddDummyPrefix(), null);
    }

    private static String modelTypeName(int type) {
        return switch (type) {
            case MODEL_TYPE_UNIGRAM -> "UNIGRAM";
            case 3 -> "WORD";
            case 4 -> "CHAR";
            default -> String.valueOf(type);
        };
    }

    /** An id from the trainer spec; -1 (or anything outside the vocabulary) means none. */
    private static int id(int id, int size) {
        return id >= 0 && id < size ? id : -1;
    }

    private static TokenizerException malformed(Path file, String problem) {
        return new TokenizerException("tokenizer file " + file + ": " + problem);
    }
}
