// STUB for the syntax check on Linux (test/metal-syntax.test.ts): declares
// only the Foundation API native/metal/*.mm uses, with Apple's signatures.
// Never used for a real build (macOS uses the SDK's headers).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef unsigned long NSUInteger;
typedef long NSInteger;
typedef signed char BOOL;
#define YES ((BOOL)1)
#define NO ((BOOL)0)
#ifndef nil
#define nil ((id)0)
#endif
#define NS_ENUM(TYPE, NAME) \
  enum NAME : TYPE NAME;    \
  enum NAME : TYPE
#define NS_OPTIONS(TYPE, NAME) \
  enum NAME : TYPE NAME;       \
  enum NAME : TYPE
#define NS_RETURNS_RETAINED __attribute__((ns_returns_retained))

typedef NS_ENUM(NSUInteger, NSStringEncoding) { NSUTF8StringEncoding = 4 };

@protocol NSObject
- (BOOL)isEqual:(id)object;
@end

__attribute__((objc_root_class))
@interface NSObject<NSObject>
+ (instancetype)alloc;
+ (instancetype)new;
- (instancetype)init;
@end

@interface NSString : NSObject
+ (instancetype)stringWithUTF8String:(const char*)nullTerminatedCString;
- (instancetype)initWithBytes:(const void*)bytes length:(NSUInteger)len encoding:(NSStringEncoding)encoding;
- (const char*)UTF8String;
@end

@interface NSError : NSObject
- (NSString*)localizedDescription;
@end
