package identity

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// maxSTSResponse bounds what is read from STS (a real answer is well under 1 KiB).
const maxSTSResponse = 64 << 10

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

type xmlCallerIdentity struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Result  []struct {
		Arn     []string `xml:"Arn"`
		UserID  []string `xml:"UserId"`
		Account []string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
}

// parseCallerIdentity accepts exactly one GetCallerIdentityResponse document, XML (the default)
// or JSON, each field present exactly once, and nothing else around it.
func parseCallerIdentity(contentType string, body []byte) (Identity, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || mt == "application/x-amz-json-1.1" {
		return parseJSONIdentity(body)
	}
	if mt != "" && mt != "text/xml" && mt != "application/xml" {
		return Identity{}, fmt.Errorf("unexpected content type %q", mt)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	var doc xmlCallerIdentity
	seenRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Identity{}, fmt.Errorf("malformed XML")
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if seenRoot || t.Target != "xml" {
				return Identity{}, fmt.Errorf("unexpected processing instruction")
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return Identity{}, fmt.Errorf("text outside the document element")
			}
		case xml.Comment:
		case xml.StartElement:
			if seenRoot {
				return Identity{}, fmt.Errorf("more than one document element")
			}
			seenRoot = true
			if err := dec.DecodeElement(&doc, &t); err != nil {
				return Identity{}, fmt.Errorf("not a GetCallerIdentityResponse")
			}
		default:
			return Identity{}, fmt.Errorf("unexpected XML content")
		}
	}
	if !seenRoot || len(doc.Result) != 1 {
		return Identity{}, fmt.Errorf("not exactly one GetCallerIdentityResult")
	}
	r := doc.Result[0]
	if len(r.Arn) != 1 || len(r.UserID) != 1 || len(r.Account) != 1 {
		return Identity{}, fmt.Errorf("each of Arn, UserId and Account must appear exactly once")
	}
	return Identity{ARN: strings.TrimSpace(r.Arn[0]), UserID: strings.TrimSpace(r.UserID[0]), Account: strings.TrimSpace(r.Account[0])}, nil
}

func parseJSONIdentity(body []byte) (Identity, error) {
	var doc struct {
		GetCallerIdentityResponse struct {
			GetCallerIdentityResult struct {
				Account string `json:"Account"`
				Arn     string `json:"Arn"`
				UserID  string `json:"UserId"`
			} `json:"GetCallerIdentityResult"`
			ResponseMetadata json.RawMessage `json:"ResponseMetadata"`
		} `json:"GetCallerIdentityResponse"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Identity{}, fmt.Errorf("malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Identity{}, fmt.Errorf("more than one JSON document")
	}
	r := doc.GetCallerIdentityResponse.GetCallerIdentityResult
	return Identity{ARN: r.Arn, UserID: r.UserID, Account: r.Account}, nil
}

// isThrottling reports whether an STS error body names a throttling error.
func isThrottling(body []byte) bool {
	var e struct {
		Error struct {
			Code string `xml:"Code"`
		} `xml:"Error"`
	}
	if xml.Unmarshal(body, &e) != nil {
		return false
	}
	switch e.Error.Code {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException":
		return true
	}
	return false
}
