package images

import (
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/xrt-dev/xrt/manager/errdefs"
	"github.com/xrt-dev/xrt/manager/metadata"
)

// Small helpers over the metadata transaction, kept together so that the
// rest of the package reads in Docker's terms (tags, repo digests).

// tagImage is the image a full tag name points at.
func tagImage(tx *metadata.Tx, name string) (digest.Digest, error) {
	t, err := tx.GetTag(name)
	if err != nil {
		return "", err
	}
	return t.ImageID, nil
}

// repoDigestImage is the image a full repo digest name points at.
func repoDigestImage(tx *metadata.Tx, name string) (digest.Digest, error) {
	all, err := tx.ListRepoDigests()
	if err != nil {
		return "", err
	}
	for _, rd := range all {
		if rd.Name == name {
			return rd.ImageID, nil
		}
	}
	return "", errdefs.NotFound("repo digest %s: not found", name)
}

// namesOf returns the full tag and repo digest names of an image, sorted.
func namesOf(tx *metadata.Tx, id digest.Digest) (tags, digests []string, err error) {
	ts, err := tx.TagsOf(id)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		tags = append(tags, t.Name)
	}
	ds, err := tx.RepoDigestsOf(id)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range ds {
		digests = append(digests, d.Name)
	}
	sort.Strings(tags)
	sort.Strings(digests)
	return tags, digests, nil
}

// allNames maps every image ID to its full tag and repo digest names.
func allNames(tx *metadata.Tx) (tags, digests map[digest.Digest][]string, err error) {
	tags, digests = map[digest.Digest][]string{}, map[digest.Digest][]string{}
	ts, err := tx.ListTags()
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		tags[t.ImageID] = append(tags[t.ImageID], t.Name)
	}
	ds, err := tx.ListRepoDigests()
	if err != nil {
		return nil, nil, err
	}
	for _, d := range ds {
		digests[d.ImageID] = append(digests[d.ImageID], d.Name)
	}
	for _, m := range []map[digest.Digest][]string{tags, digests} {
		for _, v := range m {
			sort.Strings(v)
		}
	}
	return tags, digests, nil
}
